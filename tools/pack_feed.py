"""The preview's second process: starts the policy pack and feeds it the resources as the program registers them.

    python -m tools.pack_feed <pack dir> <project> <stack> <pack config JSON>

Reads pickled plan-file resource entries (tools/plan.py) from stdin until `None`, sends each to the pack's `Analyze`
as it arrives, then `AnalyzeStack` over all of them, and writes one pickled `(status, payload, analyzed)` to stdout:
`("ok", policy section, number analyzed)` or `("error", message, 0)`. SIGTERM stops it and its pack.

It imports only the gRPC client (tools/policy_runner.py), so it and its pack are up (about 0.8 s here) while the
program is still importing the SDK, and it keeps the encoding and the gRPC traffic off the program's interpreter.
"""
import gc
import json
import pickle
import signal
import sys

from .policy_runner import PolicyPack


def _stop(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    pack_dir, project, stack, pack_config = argv[0], argv[1], argv[2], json.loads(argv[3])
    signal.signal(signal.SIGTERM, _stop)
    gc.disable()  # everything read here is kept to the end (AnalyzeStack): collections would only walk it again and again
    entries, out = sys.stdin.buffer, sys.stdout.buffer
    pack = None
    try:
        pack = PolicyPack(pack_dir)
        session = pack.configure(pack.stub, project, stack, pack_config)
        fed = []
        while (entry := pickle.load(entries)) is not None:
            session.analyze(entry)
            fed.append(entry)
        result = ("ok", session.analyze_stack(fed).as_plan_section(), len(fed))
    except Exception as e:  # reported by the preview
        result = ("error", f"{type(e).__name__}: {e}" if not str(e) else str(e), 0)
    finally:
        if pack is not None:
            pack.close()
    try:
        out.write(pickle.dumps(result))
        out.flush()
    except BrokenPipeError:  # the preview has gone
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
