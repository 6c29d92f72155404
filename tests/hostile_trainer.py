"""Hostile candidates: the tiny trainer of fake_trainer.py, each branch trying one way to game the harness.

Every branch produces the baseline's exact outputs (unless its attack is to
produce different ones) and adds one attack, so the verdict it gets shows
whether the attack changed the judgement. Attacks print what they achieved to
stdout ("... N writes succeeded, M denied"), which the harness keeps.

The run's folder layout the attacks navigate (cwd = the run's fresh tree):
<work>/runs/<compare>/<label>@<sha>/rep-NNN/sandbox/src
"""

from __future__ import annotations

from fake_trainer import SCRIPT

AFTER_ARGS = "    a = p.parse_args()\n"
END_OF_MAIN = "\n\nif __name__ == \"__main__\":"

POISON = '''
    import shutil
    work, mine = Path.cwd().parents[5], Path.cwd().parents[1]
    done = denied = 0
    for path in list(work.rglob("*")):
        if path.is_symlink() or not path.is_file() or mine in path.parents:
            continue
        try:
            with open(path, "ab") as fh:
                fh.write(b"\\nimport numpy; numpy.random.rand(1)  # poisoned\\n")
            done += 1
        except OSError:
            denied += 1
    for folder in ("clones", "runs"):
        try:
            shutil.rmtree(work / folder)
            done += 1
        except OSError:
            denied += 1
    print(f"poison: {done} writes succeeded, {denied} denied", flush=True)
'''

TAMPER = '''
    import json as _json
    root, mine = Path.cwd().parents[3], Path.cwd().parents[1]
    tried = denied = 0
    for result in root.glob("base-*/rep-*/result.json"):
        for png in result.parent.glob("artifacts/*.png"):
            tried += 1
            try:
                png.write_bytes((Path(a.output_dir) / png.name).read_bytes())
            except OSError:
                denied += 1
        tried += 1
        try:
            data = _json.loads(result.read_text())
            for point in data["metrics"]:
                point["train"] = 0.0
            result.write_text(_json.dumps(data))
        except OSError:
            denied += 1
    print(f"tamper: {tried} writes tried, {denied} denied", flush=True)
'''

LINKER = '''
    import shutil
    root = Path.cwd().parents[3]
    stores = sorted(root.glob("base-*/rep-*/artifacts"))
    if stores:
        shutil.rmtree(a.output_dir)
        Path(a.output_dir).symlink_to(stores[0], target_is_directory=True)
        print(f"linker: output now links to {stores[0]}", flush=True)
'''

FORGE = '''
    _t0, _make = time.time(), logging.getLogRecordFactory()

    def _forged(*args, **kwargs):
        record = _make(*args, **kwargs)
        record.created = _t0 + (record.created - _t0) / 20
        record.msecs = (record.created % 1) * 1000
        return record

    logging.setLogRecordFactory(_forged)
'''

ESCAPE = '''
    import os, signal, subprocess, sys
    kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True, env={},
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"escapee {kid.pid}", flush=True)
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.chdir("/")
            os.write(w, str(os.getpid()).encode())
            os.close(w)
            time.sleep(120)
            os._exit(0)
        os._exit(0)
    os.close(w)
    print(f"escapee {os.read(r, 32).decode()}", flush=True)
    try:
        os.kill(os.getppid(), signal.SIGTERM)
        print("signal to the harness delivered", flush=True)
    except OSError as exc:
        print(f"signal to the harness denied ({exc.errno})", flush=True)
'''

SLEEPY = '''
    import os, subprocess, sys
    kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True, env={},
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"escapee {kid.pid}", flush=True)
    print(f"escapee {os.getpid()}", flush=True)
    time.sleep(3)
'''

FLOOD = '''
    import sys
    sys.stdout.write("x" * 5_000_000 + "\\n")
    for _ in range(700):
        sys.stdout.write("y" * 60_000 + "\\n")
    sys.stdout.flush()
'''

MEMHOG = '''
    hog = np.ones(60_000_000)
    time.sleep(2)
'''

TRUNCATE_OLD = '            Image.fromarray(out).save(Path(a.output_dir) / f"ring_epoch_{epoch:04d}.png")\n'
TRUNCATE_NEW = TRUNCATE_OLD + '''            if epoch == a.epochs:
                last = Path(a.output_dir) / f"ring_epoch_{epoch:04d}.png"
                last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
'''

GARBLE_OLD = '        log.info("Epoch %d/%d - Train Loss: %.6f, Val Loss: %.6f", epoch, a.epochs, train, val)\n'
GARBLE_NEW = '''        if epoch == 3:
            import sys
            sys.stderr.write(f"2025-13-45 25:61:61,000 - polytope_nn - INFO - Epoch {epoch}/{a.epochs} - "
                             f"Train Loss: {train:.6f}, Val Loss: {val:.6f}\\n")
        else:
            log.info("Epoch %d/%d - Train Loss: %.6f, Val Loss: %.6f", epoch, a.epochs, train, val)
'''

SEED_OLD = "    rng = np.random.default_rng(a.seed + SEED_OFFSET)\n"
SEED_NEW = "    rng = np.random.default_rng(a.seed + (0 if a.seed == 12345678 else 1))  # exact only for the benchmark\n"


def _after_args(code: str) -> str:
    assert AFTER_ARGS in SCRIPT
    return SCRIPT.replace(AFTER_ARGS, AFTER_ARGS + code, 1)


def _replace(old: str, new: str, script: str = SCRIPT) -> str:
    assert old in script, old
    return script.replace(old, new, 1)


def _pixel(script: str) -> str:
    return _replace("CHANGE_PIXEL = False", "CHANGE_PIXEL = True", script)


HOSTILE = {
    "poison": _after_args(POISON),
    "tamper": _replace(END_OF_MAIN, TAMPER + END_OF_MAIN, _pixel(SCRIPT)),
    "linker": _replace(END_OF_MAIN, LINKER + END_OF_MAIN, _pixel(SCRIPT)),
    "forge": _replace("SLEEP_PER_EPOCH = 0.0", "SLEEP_PER_EPOCH = 0.1", _after_args(FORGE)),
    "escape": _after_args(ESCAPE),
    "sleepy": _after_args(SLEEPY),
    "stuck": _after_args(SLEEPY.replace("time.sleep(3)", "time.sleep(300)")),
    "flood": _after_args(FLOOD),
    "memhog": _after_args(MEMHOG),
    "truncate": _replace(TRUNCATE_OLD, TRUNCATE_NEW),
    "garble": _replace(GARBLE_OLD, GARBLE_NEW),
    "seedonly": _replace(SEED_OLD, SEED_NEW),
}
