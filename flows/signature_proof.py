"""Does a downloaded contract PDF prove its own signing? (pyHanko)

GMO Sign's callback proves nothing (anyone who learns the URL can post one) and the published
API cannot be asked for an envelope's state (docs/gmosign-sources.md). What remains is the
document: a signed contract carries a PDF digital signature per signing. A PDF is taken as
proof of completion only when all of these hold:

1. it parses as a PDF and carries at least as many signatures (signature fields with a CMS
   signature, document timestamps not counted) as the envelope had signers;
2. every signature is intact and valid: the digest of the bytes it covers matches, and the
   signature over it verifies with the certificate it carries;
3. nothing after a signature changed the content: each covers its whole revision, and later
   revisions only add signatures, form fill-ins or timestamps (pyHanko's difference analysis,
   at most ``FORM_FILLING``); the last signature or document timestamp covers the whole file,
   so no byte was appended after the final one;
4. when trust roots are configured (``KGBRIDGE_GMOSIGN_SIGNATURE_TRUST_ROOTS``, a PEM file of
   the CA certificates GMO Sign signs under), every signer certificate chains to one of them.

Without trust roots, (4) is not checked: a valid signature then proves the file is whole and was
signed as many times as the envelope had signers, not by whom. That is still far more than a
callback, and a forger would have to produce a fresh, self-consistent signed PDF that GMO Sign
itself serves for a document id it issued to us at send time. Configure the roots to close it.

pyHanko's own log lines quote certificate subjects (signers' names): they are kept out of the logs.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

for _name in ("pyhanko", "pyhanko_certvalidator"):
    logging.getLogger(_name).setLevel(logging.CRITICAL + 1)

# Imported after the log levels are set: pyHanko may log while loading.
from pyhanko.pdf_utils.misc import PdfError  # noqa: E402
from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402
from pyhanko.sign.general import SigningError  # noqa: E402
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp  # noqa: E402
from pyhanko.sign.validation.errors import SignatureValidationError  # noqa: E402
from pyhanko.sign.validation.status import ModificationLevel, SignatureCoverageLevel  # noqa: E402
from pyhanko_certvalidator import ValidationContext  # noqa: E402

_ALLOWED_AFTER_SIGNING = ModificationLevel.FORM_FILLING


@dataclass(frozen=True)
class Proof:
    proven: bool
    signatures: int  # valid signatures found
    reason: str = ""  # why not proven (English, no personal data)


class TrustRootError(ValueError):
    """The configured trust root file cannot be read as certificates."""


def load_trust_roots(path: Path | None) -> list[asn1_x509.Certificate]:
    """The CA certificates in a PEM (or DER) file; [] when no file is configured."""
    if path is None:
        return []
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TrustRootError(f"cannot read {path}: {type(exc).__name__}") from None
    try:
        blobs = [der for _type, _headers, der in pem.unarmor(data, multiple=True)] if pem.detect(data) else [data]
        roots = [asn1_x509.Certificate.load(der) for der in blobs]
        for root in roots:
            root.native  # noqa: B018 (parses it fully: a broken file fails here, at start)
    except (ValueError, TypeError) as exc:
        raise TrustRootError(f"{path} holds no readable certificate ({type(exc).__name__})") from None
    if not roots:
        raise TrustRootError(f"{path} holds no certificate")
    return roots


def prove_signed(pdf: bytes, signers: int, trust_roots: Sequence[asn1_x509.Certificate] = ()) -> Proof:
    """Whether ``pdf`` is whole and signed by ``signers`` signatures (see the module docstring)."""
    if signers < 1:
        return Proof(False, 0, "the number of signers of the envelope is not known")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        return Proof(False, 0, f"not a readable PDF ({type(exc).__name__})")
    regular = [s for s in embedded if s.sig_object_type != "/DocTimeStamp"]
    if len(regular) < signers:
        return Proof(False, len(regular), f"{len(regular)} signature(s) for {signers} signer(s)")
    # Explicit roots, never the operating system's list; none configured: trust is not judged.
    context = ValidationContext(trust_roots=list(trust_roots))
    judge_trust = bool(trust_roots)
    valid = 0
    for signature in regular:
        problem = _signature_problem(signature, context, judge_trust)
        if problem:
            return Proof(False, valid, f"signature {valid + 1}: {problem}")
        valid += 1
    try:  # only the final signature or document timestamp can cover the entire file
        last = [s for s in embedded if s.evaluate_signature_coverage() is SignatureCoverageLevel.ENTIRE_FILE]
        whole = bool(last)
        if whole and last[0].sig_object_type == "/DocTimeStamp":
            whole = validate_pdf_timestamp(last[0], validation_context=context).intact
    except (PdfError, SignatureValidationError, SigningError, ValueError, KeyError, TypeError) as exc:
        return Proof(False, valid, f"the last signature cannot be checked ({type(exc).__name__})")
    if not whole:
        return Proof(False, valid, "bytes were added after the last signature")
    return Proof(True, valid)


def _signature_problem(signature, context: ValidationContext, judge_trust: bool) -> str:
    try:
        status = validate_pdf_signature(signature, signer_validation_context=context)
    except (PdfError, SignatureValidationError, SigningError, ValueError, KeyError, TypeError) as exc:
        return f"cannot be validated ({type(exc).__name__})"
    if not status.intact:
        return "the signed bytes were changed"
    if not status.valid:
        return "the signature does not verify"
    if status.coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
        return "it does not cover its whole revision"
    if status.modification_level is None or status.modification_level > _ALLOWED_AFTER_SIGNING \
            or not status.docmdp_ok:
        return "the document was changed after it was signed"
    if judge_trust and not status.trusted:
        return "its certificate does not chain to a configured trust root"
    return ""
