"""A plain PyTorch training script, as a user's own repository has one: no harness in mind.

It prints its losses with print() (a train line and an eval line at the same
step, no timestamps), loads its data through a DataLoader with two workers,
prints a sampled line of text every few steps and writes model.pt at the end.
Its branches are the kinds of change a harness must tell apart from a task
TOML alone (TASK_TOML: no hooks).
"""

from __future__ import annotations

SCRIPT = 'import argparse, time\nimport torch\nfrom torch.utils.data import DataLoader, TensorDataset\n\nSLEEP_PER_STEP = 0.02  # stands for data preparation the branches speed up or slow down\n\n\ndef main():\n    p = argparse.ArgumentParser()\n    p.add_argument("--steps", type=int, default=40)\n    p.add_argument("--workers", type=int, default=2)\n    p.add_argument("--seed", type=int, default=0)\n    p.add_argument("--eval-every", type=int, default=10)\n    a = p.parse_args()\n    torch.manual_seed(a.seed)\n    text = "hello world, this is a tiny corpus for a tiny character model. " * 20\n    chars = sorted(set(text))\n    stoi = {c: i for i, c in enumerate(chars)}\n    data = torch.tensor([stoi[c] for c in text])\n    x, y = data[:-1], data[1:]\n    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, num_workers=a.workers,\n                        persistent_workers=a.workers > 0, generator=torch.Generator().manual_seed(a.seed))\n    model = torch.nn.Embedding(len(chars), len(chars))\n    step, batches = 0, iter(loader)\n    while step < a.steps:\n        try:\n            xb, yb = next(batches)\n        except StopIteration:\n            batches = iter(loader)\n            xb, yb = next(batches)\n        time.sleep(SLEEP_PER_STEP)\n        loss = torch.nn.functional.cross_entropy(model(xb), yb)\n        model.zero_grad()\n        loss.backward()\n        with torch.no_grad():  # plain SGD by hand: torch.optim\'s first use imports torch._dynamo (1.6 s a run)\n            model.weight -= 0.5 * model.weight.grad\n        step += 1\n        if step % a.eval_every == 0:\n            with torch.no_grad():\n                ev = torch.nn.functional.cross_entropy(model(x), y).item()\n            print(f"step {step}: train loss {loss.item():.4f}")\n            print(f"step {step}: eval loss {ev:.4f}")\n            g = torch.Generator().manual_seed(step)\n            idx, out = 0, []\n            with torch.no_grad():\n                for _ in range(30):\n                    idx = torch.multinomial(torch.softmax(model(torch.tensor([idx])), -1)[0], 1, generator=g).item()\n                    out.append(chars[idx])\n            print("sample: " + "".join(out))\n    torch.save(model.state_dict(), "model.pt")\n    print("done")\n\n\nif __name__ == "__main__":\n    main()\n'

TASK_TOML = r'''
# A plain training script: its command, the lines it prints, the file it writes. No hooks.
name = "charlm"
command = ["{python}", "train.py", "--steps", "{steps}"]
preload = ["torch"]  # --start warm: runs of a compare without timing rounds fork from a process that imported it

[artifacts]
glob = "model.pt"

[log]
step_key = "step"
metrics = ["train", "eval"]
[log.patterns]
train = '^step (?P<step>\d+): train loss (?P<loss>\S+)$'
eval = '^step (?P<step>\d+): eval loss (?P<loss>\S+)$'
[log.text]
sample = '^sample: (?P<text>.*)$'

[params]
steps = "int"
[defaults]
steps = 40
'''

# branch name -> (a line of SCRIPT, its replacement)
VARIANTS = {
    "comment": ("def main():", "# a harmless comment\ndef main():"),
    "faster": ("SLEEP_PER_STEP = 0.02 ", "SLEEP_PER_STEP = 0.0 "),
    "slower": ("SLEEP_PER_STEP = 0.02 ", "SLEEP_PER_STEP = 0.06 "),
    "rng": ("    torch.manual_seed(a.seed)\n", "    torch.manual_seed(a.seed)\n    torch.rand(1)\n"),
    "samples": ("g = torch.Generator().manual_seed(step)", "g = torch.Generator().manual_seed(step + 1)"),
    "model": ("    torch.save(model.state_dict(), \"model.pt\")",
              "    torch.save({k: v + 1e-6 for k, v in model.state_dict().items()}, \"model.pt\")"),
    "crash": ("        step += 1\n", "        step += 1\n        if step == 15:\n            raise RuntimeError(\"CUDA out of memory\")\n"),
}


def variant(name: str) -> str:
    old, new = VARIANTS[name]
    assert old in SCRIPT, old
    return SCRIPT.replace(old, new, 1)
