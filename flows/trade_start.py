"""06_2 取引開始・契約書類締結: the application to start trading (seed A-4, A-5, A-6).

Opened when the client's 06_1 credit application is approved (与信OKの場合は、基本契約書発行の
ワークフロー申請をする), prefilled from it; a rep may also create one by hand. It stands only for a
client whose credit is approved, and a non-standard basic contract (定形外契約書 有) goes to
legal first: kintone offers 「法務確認依頼」 instead of 「申請」 and legal's 「法務確認OK」 needs
法務確認結果 確認済; ``flows.workflow`` sends back anything that arrives without it. Approved:
the client's 取引状態 becomes 取引可, from which the contract flow may issue the 基本契約, and
the applicant is told.

kintone calls: opening 2 (query, add; within the 06_1 approval); each check at 申請中 and
上長承認済 +1 (the client's 与信状態); approval 3 (client read and update, comment); a
repeat 0 (remembered).
"""

from __future__ import annotations

from flows import applications as apps
from flows.context import FlowContext
from flows.notify import tell
from mappings import AppMapping
from mappings.credit import Screening

KIND = "trade_start"
DECIDES_ON_CLIENT = True  # problems() reads the client's 与信状態 (a page reads its clients at once)


def open_application(ctx: FlowContext, wf: AppMapping, credit_application: dict, client: dict) -> tuple[str, bool]:
    """Open (or find) the client's 06_2 application after its 06_1 was approved."""
    reference = f"06_2:after-{credit_application['record_id']}"
    name = client.get("company_name") or credit_application.get("client") or ""

    def values() -> dict:
        return {
            "kind": apps.kind_name(wf, KIND),
            "title": apps.form_name(ctx.mappings, KIND, name),
            "client": name,
            "client_record_id": client["record_id"],
            "source_order_id": credit_application.get("source_order_id"),
            "applicant": credit_application.get("applicant") or [],
            "supervisor": credit_application.get("supervisor") or [],
            "applied_on": ctx.now().date(),
        }

    return apps.open_once(ctx, wf, KIND, client["record_id"], reference, values)


# -- what flows.workflow asks of this kind --------------------------------------------------

def required_items(wf: AppMapping, application: dict) -> list[str]:
    return list(wf.settings(KIND).get("required_items", []))


def problems(ctx: FlowContext, wf: AppMapping, application: dict) -> list[str]:
    """Why this application cannot be decided yet, beyond empty items."""
    found = []
    if application.get("client_record_id") is not None:
        clients = ctx.mappings["clients"]
        client = apps.read_client(ctx, application["client_record_id"], application)
        approved = clients.settings("credit").get("approved", "承認")
        if client.get("credit_status") != approved:
            found.append(f"顧客「{client.get('company_name') or ''}」の与信が承認されていません"
                         f"（与信状態：{client.get('credit_status') or '未申請'}）。"
                         f"先に稟議「{apps.form_name(ctx.mappings, 'credit_check', client.get('company_name'))}」の"
                         "承認を受けてください。")
    choices = wf.settings("choices")
    if (application.get("nonstandard_contract") == choices.get("nonstandard_yes", "有")
            and application.get("legal_review_result") != choices.get("legal_cleared", "確認済")):
        found.append("定形外契約書のため、先に法務の確認が必要です。「法務確認依頼」を実行し、法務確認結果が"
                     "「確認済」になってから進めてください。")
    return found


def screening(ctx: FlowContext, wf: AppMapping, application: dict) -> Screening:
    return Screening()  # the manager decides the 06_2 application; no answer ends it or needs the director


def on_approved(ctx: FlowContext, wf: AppMapping, application: dict) -> str:
    """The client becomes ready to trade (取引状態 取引可) and the applicant is told."""
    done = f"workflow:{application['record_id']}:trade_approved"
    if ctx.ledger.done(done):
        return "nothing_to_do"
    if application.get("client_record_id") is None:
        return apps.tell_no_client(ctx, wf, application)
    clients = ctx.mappings["clients"]
    client = apps.read_client(ctx, application["client_record_id"], application)  # read by problems()
    ready = clients.settings("trade").get("ready", "取引可")
    apps.update_client(ctx, client, {"trade_status": ready})
    name = client.get("company_name") or application.get("client") or ""
    text = (f"顧客「{name}」との取引開始が承認されました。顧客管理台帳の取引状態を「{ready}」にしました。"
            "契約アプリで契約種別「基本契約」の契約を作成し、基本契約書の発行を依頼してください。")
    choices = wf.settings("choices")
    if application.get("nonstandard_contract") == choices.get("nonstandard_yes", "有"):
        text += "定形外契約書のため、法務が確認した内容で発行してください。"
    tell(ctx, wf, application["record_id"], text, application.get("applicant"), once_as="trade_approved")
    ctx.ledger.mark(done, apps.REMEMBER_SECONDS)
    return "trade_approved"


def on_rejected(ctx: FlowContext, wf: AppMapping, application: dict) -> str:
    """The client stays not ready to trade (no 基本契約 is issued); the applicant is told what next."""
    name = application.get("client") or ""
    told = tell(ctx, wf, application["record_id"],
                f"顧客「{name}」との取引開始の稟議「{apps.form_name(ctx.mappings, KIND, name)}」"
                f"（稟議 #{application['record_id']}）は否認されました。"
                "顧客管理台帳の取引状態は変えていないため、基本契約書は発行できません。"
                "否認の理由を上長に確認し、条件を見直して取引を進める場合は新しい稟議を申請してください。",
                application.get("applicant"), once_as="trade_rejected")
    return "trade_rejected" if told else "nothing_to_do"
