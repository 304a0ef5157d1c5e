"""What ``kgbridge`` (cli.py) does for operators, one small module per concern.

    failed_jobs.py     jobs failed | show | replay | purge
    events.py          events replay FILE...  (saved webhook bodies, by kind)
    mapping_check.py   mapping check [APP]    (our mappings against the live apps)
    reconcile.py       reconcile              (find records whose webhook never arrived)
    env.py             settings, Redis, mappings and kintone, built once and only when needed
    when.py            "30m", "6h", "30d" or an ISO datetime -> an aware datetime
    output.py          readable tables (Japanese-width aware) and JSON

Each module returns plain data and renders its own table; cli.py chooses table or JSON and the
exit code.
"""
