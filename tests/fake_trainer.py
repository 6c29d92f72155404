"""A tiny stand-in for the polytope trainer, for tests of the harness itself.

The seed command's flags (and no others), the same log format, the same
three-panel PNG layout (boundaries pure red in the first panel) written into
./outputs as the real trainer does by default, but numpy-only and instant. Branches
of a temporary git repository flip one of the knobs below, so each branch is
a known kind of "optimisation" the harness must recognise.
"""

SCRIPT = '''\
import argparse, logging, time
from pathlib import Path
import numpy as np
from PIL import Image

SEED_OFFSET = 0        # != 0: the RNG stream is perturbed
CHANGE_PIXEL = False   # one pixel of the second panel changes
DROP_BOUNDARY = False  # part of the red boundary line disappears (a hash collision)
CRASH_AT = 0           # > 0: raise at that epoch
SLEEP_PER_EPOCH = 0.0  # seconds of extra work per training epoch
SLEEP_ONCE = 0.0       # seconds slept before training (a hang, for timeouts)
FLAKY = False          # losses depend on the clock: the branch does not reproduce itself


def main():
    p = argparse.ArgumentParser()  # the seed's flags exactly: no --device, no --output-dir
    for flag in ("--input", "--shape"):
        p.add_argument(flag, required=True)
    for flag in ("--epochs", "--seed", "--points", "--save-interval"):
        p.add_argument(flag, type=int, required=True)
    a = p.parse_args()
    a.output_dir = "./outputs"
    Path(a.output_dir).mkdir(exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    log = logging.getLogger("polytope_nn")
    img = np.asarray(Image.open(a.input).convert("L"))
    h, w = img.shape
    rng = np.random.default_rng(a.seed + SEED_OFFSET)
    time.sleep(SLEEP_ONCE)
    for epoch in range(1, a.epochs + 1):
        if epoch == CRASH_AT:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        time.sleep(0.002 + SLEEP_PER_EPOCH)
        train, val = rng.random() / epoch, rng.random() / epoch
        if FLAKY:
            train += (time.time_ns() % 997) * 1e-6
        log.info("Epoch %d/%d - Train Loss: %.6f, Val Loss: %.6f", epoch, a.epochs, train, val)
        if epoch % a.save_interval == 0 or epoch == a.epochs:
            start = time.perf_counter()
            gray = np.repeat(img[..., None], 3, axis=-1)
            first = gray.copy()
            first[h // 2, :] = (255, 0, 0)
            if DROP_BOUNDARY:
                first[h // 2, : w // 4] = gray[h // 2, : w // 4]
            out = np.concatenate([first, gray, gray.copy()], axis=1)
            if CHANGE_PIXEL:
                out[1, w + 1] = (1, 2, 3)
            Image.fromarray(out).save(Path(a.output_dir) / f"ring_epoch_{epoch:04d}.png")
            log.info("Visualization @ epoch %d: %.2fs", epoch, time.perf_counter() - start)


if __name__ == "__main__":
    main()
'''

# branch name -> (knob line in SCRIPT, its replacement)
VARIANTS = {
    "same": ("import argparse, logging, time", "# a harmless comment\nimport argparse, logging, time"),
    "rng": ("SEED_OFFSET = 0 ", "SEED_OFFSET = 1 "),
    "pixel": ("CHANGE_PIXEL = False", "CHANGE_PIXEL = True"),
    "collide": ("DROP_BOUNDARY = False", "DROP_BOUNDARY = True"),
    "crash": ("CRASH_AT = 0 ", "CRASH_AT = 2 "),
    "slow": ("SLEEP_PER_EPOCH = 0.0", "SLEEP_PER_EPOCH = 0.06"),  # > 50 ticks of the 1 ms log clock
    "hang": ("SLEEP_ONCE = 0.0", "SLEEP_ONCE = 30.0"),
    "flaky": ("FLAKY = False", "FLAKY = True"),
    "threads": ("import argparse, logging, time", "import argparse, logging, time\nimport os\nos.environ['OMP_NUM_THREADS'] = '1'"),
}


def variant(name: str) -> str:
    old, new = VARIANTS[name]
    assert old in SCRIPT, old
    return SCRIPT.replace(old, new, 1)
