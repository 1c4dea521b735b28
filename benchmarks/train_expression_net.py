"""Fine-tune a copy of face-api.js's FaceExpressionNet on FER2013's training split (issue 18, part 3).

Research / development only: needs PyTorch (the `train` extra), which nothing at run time imports.
The result is the same architecture (same cost per face) with new weights, written in face-api.js's
tfjs manifest layout, so the project's own graph builder (`faceapi.nets.face_expression.build_graph`)
turns it into the ONNX graph that runs on onnxruntime like every other net.

Stages (each reads what the previous one left in ``--cache``, a folder outside the repository):

``prepare``  unpack nothing itself: reads FER2013's Training split from ``--fer-train`` (the unpacked
             ``fer2013-train/`` folder of ``../shared/eval/train/fer2013-train.tar.gz``) into one uint8
             array, reads the 48x48 crop sets (fer2013-publictest, ckplus48) and runs the project's full
             chain (SSD detector, 68 landmarks, aligned box: what `FaceAnalyzer` feeds the expression net)
             on the whole-face set (taiwanese), keeping the aligned crop of the largest face.
``verify``   checks that the torch copy loaded with face-api.js's weights gives the project's onnx logits.
``train``    fine-tunes (seed fixed; augmentation mimicking the chain's inputs; logit-adjusted loss for
             class balance) and writes the weights (``--out``: manifest + bin).
``head``     the cheap variant: only the final dense layer refitted on the frozen net's 256-d features.
``evaluate`` face-api.js's net vs the given weights on the three sets, through the project's graph
             builder and onnxruntime: accuracy, balanced accuracy, per-class recall (``--json``).

Example (the commands NOTES-train.md records)::

    tmp=$(mktemp -d) && tar -xzf ../shared/eval/train/fer2013-train.tar.gz -C "$tmp"
    python benchmarks/train_expression_net.py prepare --fer-train "$tmp/fer2013-train" --cache /tmp/expr-cache
    python benchmarks/train_expression_net.py verify --cache /tmp/expr-cache
    python benchmarks/train_expression_net.py train --cache /tmp/expr-cache --out /tmp/expr-ft
    python benchmarks/train_expression_net.py evaluate --cache /tmp/expr-cache --weights /tmp/expr-ft
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from faceapi.models.manifest import WeightMap, read_manifest_weights
from faceapi.models.store import load_weights
from faceapi.nets.face_expression import build_graph, preprocess, softmax
from faceapi.nets.feature_extractor import MEAN_RGB
from faceapi.results import EXPRESSION_LABELS

LABELS = EXPRESSION_LABELS
SHARED = Path(os.environ.get("FACEAPI_SHARED", Path(__file__).resolve().parents[2] / "shared"))
EVAL_SETS = {"fer2013-publictest": "crop", "ckplus48": "crop", "taiwanese": "chain"}
MODEL = "face_expression_model"
SEED = 20261207


# -- data ------------------------------------------------------------------------------------------
def _read_folder(root: Path) -> tuple[list[Path], np.ndarray]:
    paths: list[Path] = []
    labels: list[int] = []
    for k, label in enumerate(LABELS):
        folder = root / label
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            paths.append(p)
            labels.append(k)
    return paths, np.array(labels, np.int64)


def prepare(args: argparse.Namespace) -> None:
    from faceapi import AnalyzeOptions, FaceAnalyzer, load_image
    from faceapi.pipeline import crop

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    paths, labels = _read_folder(Path(args.fer_train))
    if len(paths) == 0:
        sys.exit(f"no labelled images under {args.fer_train}")
    images = np.stack([load_image(p)[..., 0] for p in paths])  # gray: R = G = B
    np.savez(cache / "fer_train.npz", images=images, labels=labels)
    print(f"FER2013 train: {images.shape} {np.bincount(labels, minlength=7)}")

    analyzer = FaceAnalyzer()
    options = AnalyzeOptions(landmarks="full", expressions=True)
    for name, how in EVAL_SETS.items():
        paths, labels = _read_folder(Path(args.eval) / name)
        crops: list[np.ndarray | None] = []
        chain_probs: list[tuple[float, ...] | None] = []
        t = time.perf_counter()
        for p in paths:
            img = load_image(p)
            if how == "crop":
                crops.append(img)
                continue
            result = analyzer.analyze(img, options)
            faces = [f for f in result.faces if f.aligned_box is not None and f.expressions is not None]
            if not faces:
                crops.append(None)
                chain_probs.append(None)
                continue
            face = max(faces, key=lambda f: f.detection.box.width * f.detection.box.height)
            assert face.aligned_box is not None and face.expressions is not None
            crops.append(crop(img, face.aligned_box).copy())
            chain_probs.append(face.expressions.probabilities)
        with open(cache / f"{name}.pkl", "wb") as f:
            pickle.dump({"crops": crops, "labels": labels, "chain_probs": chain_probs,
                         "files": [str(p) for p in paths]}, f)
        missed = sum(c is None for c in crops)
        print(f"{name}: {len(crops)} images ({how}), {missed} without a face, {time.perf_counter() - t:.0f} s")


def load_set(cache: Path, name: str) -> dict[str, Any]:
    with open(cache / f"{name}.pkl", "rb") as f:
        data: dict[str, Any] = pickle.load(f)
    return data


# -- the torch copy --------------------------------------------------------------------------------
def torch_net(weights: dict[str, np.ndarray]) -> Any:
    """FaceExpressionNet in PyTorch with face-api.js's tensors (TF layouts converted to PyTorch's)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def same_pad(x: torch.Tensor, stride: int) -> torch.Tensor:
        # TF SAME for k = 3: stride 1 pads 1 each side; stride 2 on an even size pads 0 before, 1 after.
        return F.pad(x, (1, 1, 1, 1) if stride == 1 else (0, 1, 0, 1))

    class SepConv(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.stride = stride
            self.depthwise = nn.Conv2d(cin, cin, 3, stride, 0, groups=cin, bias=False)
            self.pointwise = nn.Conv2d(cin, cout, 1, 1, 0, bias=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pointwise(self.depthwise(same_pad(x, self.stride)))

    class Conv(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.stride = stride
            self.conv = nn.Conv2d(cin, cout, 3, stride, 0, bias=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(same_pad(x, self.stride))

    class DenseBlock(nn.Module):
        def __init__(self, cin: int, cout: int, first: bool):
            super().__init__()
            self.convs = nn.ModuleList([Conv(cin, cout, 2) if first else SepConv(cin, cout, 2)]
                                       + [SepConv(cout, cout, 1) for _ in range(3)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            total = F.relu(self.convs[0](x))
            activated = total
            for conv in self.convs[1:]:
                total = total + conv(activated)
                activated = F.relu(total)
            return activated

    class ExpressionNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor(MEAN_RGB, dtype=torch.float32).view(1, 3, 1, 1))
            self.blocks = nn.ModuleList([DenseBlock(3, 32, True), DenseBlock(32, 64, False),
                                         DenseBlock(64, 128, False), DenseBlock(128, 256, False)])
            self.fc = nn.Linear(256, 7)

        def features(self, x: torch.Tensor) -> torch.Tensor:
            """NCHW raw pixels (0..255) -> the 256-d pooled features."""
            x = (x - self.mean) / 255.0
            for block in self.blocks:
                x = block(x)
            return x.mean(dim=(2, 3))  # avgPool 7x7 -> 1x1

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.features(x))

        def forward_frozen(self, x: torch.Tensor, n_frozen: int) -> torch.Tensor:
            """`forward` with the first `n_frozen` blocks run without gradients (they are not trained:
            no backward pass through the costly high-resolution blocks)."""
            with torch.no_grad():
                x = (x - self.mean) / 255.0
                for block in self.blocks[:n_frozen]:
                    x = block(x)
            for block in self.blocks[n_frozen:]:
                x = block(x)
            return self.fc(x.mean(dim=(2, 3)))

    net = ExpressionNet()
    state: dict[str, torch.Tensor] = {}
    for b, block in enumerate(net.blocks):
        for i, conv in enumerate(block.convs):
            p = f"dense{b}/conv{i}"
            if isinstance(conv, Conv):
                state[f"blocks.{b}.convs.{i}.conv.weight"] = torch.from_numpy(
                    weights[f"{p}/filters"].transpose(3, 2, 0, 1).copy())
                state[f"blocks.{b}.convs.{i}.conv.bias"] = torch.from_numpy(weights[f"{p}/bias"].copy())
            else:
                state[f"blocks.{b}.convs.{i}.depthwise.weight"] = torch.from_numpy(
                    weights[f"{p}/depthwise_filter"].transpose(2, 3, 0, 1).copy())
                state[f"blocks.{b}.convs.{i}.pointwise.weight"] = torch.from_numpy(
                    weights[f"{p}/pointwise_filter"].transpose(3, 2, 0, 1).copy())
                state[f"blocks.{b}.convs.{i}.pointwise.bias"] = torch.from_numpy(weights[f"{p}/bias"].copy())
    state["fc.weight"] = torch.from_numpy(weights["fc/weights"].T.copy())
    state["fc.bias"] = torch.from_numpy(weights["fc/bias"].copy())
    state["mean"] = net.mean
    net.load_state_dict(state, strict=True)
    return net


def tf_weights(net: Any) -> dict[str, np.ndarray]:
    """The torch net's parameters back in face-api.js's names and TF layouts (the inverse of `torch_net`)."""
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    out: dict[str, np.ndarray] = {}
    for b in range(4):
        for i in range(4):
            p, q = f"dense{b}/conv{i}", f"blocks.{b}.convs.{i}"
            if b == 0 and i == 0:
                out[f"{p}/filters"] = sd[f"{q}.conv.weight"].transpose(2, 3, 1, 0)
                out[f"{p}/bias"] = sd[f"{q}.conv.bias"]
            else:
                out[f"{p}/depthwise_filter"] = sd[f"{q}.depthwise.weight"].transpose(2, 3, 0, 1)
                out[f"{p}/pointwise_filter"] = sd[f"{q}.pointwise.weight"].transpose(2, 3, 1, 0)
                out[f"{p}/bias"] = sd[f"{q}.pointwise.bias"]
    out["fc/weights"] = sd["fc.weight"].T
    out["fc/bias"] = sd["fc.bias"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def faceapi_weights() -> dict[str, np.ndarray]:
    w = load_weights(MODEL).weights
    return {n: w[n] for n in w.names()}


def write_manifest(weights: dict[str, np.ndarray], folder: Path, dtype: str = "float16") -> Path:
    """tfjs manifest + one bin (face-api.js's layout; float16 storage halves it, read back as float32)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries, parts = [], []
    for name in faceapi_weights():  # face-api.js's tensor order
        value = weights[name]
        entry: dict[str, Any] = {"name": name, "shape": list(value.shape), "dtype": "float32"}
        if dtype == "float16":
            entry["quantization"] = {"dtype": "float16"}
            parts.append(value.astype("<f2").tobytes())
        else:
            parts.append(value.astype("<f4").tobytes())
        entries.append(entry)
    bin_name = f"{MODEL}.bin"
    (folder / bin_name).write_bytes(b"".join(parts))
    manifest = folder / f"{MODEL}-weights_manifest.json"
    manifest.write_text(json.dumps([{"paths": [bin_name], "weights": entries}], indent=1) + "\n")
    return manifest


def read_weights(folder: Path) -> dict[str, np.ndarray]:
    return read_manifest_weights(folder / f"{MODEL}-weights_manifest.json")


def onnx_session(weights: dict[str, np.ndarray]) -> Any:
    """The project's graph for these weights on onnxruntime (exactly how the pipeline runs the net)."""
    import onnxruntime as ort

    model = build_graph(WeightMap(dict(weights), MODEL))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def onnx_logits(session: Any, crops: list[np.ndarray], batch: int = 64) -> np.ndarray:
    out = []
    for i in range(0, len(crops), batch):
        out.append(session.run(None, {"input": preprocess(crops[i:i + batch])})[0])
    return np.concatenate(out) if out else np.zeros((0, 7), np.float32)


def verify(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    weights = faceapi_weights()
    net = torch_net(weights).eval()
    crops = [c for name in EVAL_SETS for c in load_set(Path(args.cache), name)["crops"][:: 97] if c is not None]
    batch = preprocess(crops)
    ref = onnx_logits(onnx_session(weights), crops)
    with torch.no_grad():
        got = net(torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()).numpy()
    diff = float(np.abs(got - ref).max())
    back = tf_weights(net)
    roundtrip = max(float(np.abs(back[k] - weights[k]).max()) for k in weights)
    print(f"{len(crops)} real crops: max |torch - onnx| logits = {diff:.2e} (logits up to {np.abs(ref).max():.1f}); "
          f"weights round trip {roundtrip:.1e}; same argmax {np.mean(got.argmax(1) == ref.argmax(1)):.3f}")
    if diff > 1e-3 or roundtrip != 0.0:
        sys.exit("the torch copy does not reproduce the project's net")


# -- metrics ---------------------------------------------------------------------------------------
def metrics(pred: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """`pred`: predicted class, -1 for a face not found (counted wrong)."""
    present = [k for k in range(7) if np.any(labels == k)]
    recall = {LABELS[k]: float(np.mean(pred[labels == k] == k)) for k in present}
    return {"n": int(len(labels)), "accuracy": float(np.mean(pred == labels)),
            "balanced_accuracy": float(np.mean(list(recall.values()))), "recall": recall,
            "missed": int(np.sum(pred < 0))}


def predict_set(session: Any, data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    crops = data["crops"]
    have = [i for i, c in enumerate(crops) if c is not None]
    probs = np.full((len(crops), 7), np.nan, np.float32)
    probs[have] = softmax(onnx_logits(session, [crops[i] for i in have]))
    pred = np.where(np.isnan(probs[:, 0]), -1, np.nan_to_num(probs).argmax(1))
    return pred, probs



# -- training --------------------------------------------------------------------------------------
def split_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of FER2013's training split: (fit indices, held-out indices for monitoring)."""
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for k in range(7):
        idx = rng.permutation(np.flatnonzero(labels == k))
        n = int(round(len(idx) * fraction))
        held.append(idx[:n])
        fit.append(idx[n:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(held))


def augment(gray: Any, gen: Any, strength: float = 1.0) -> Any:
    """A batch of 48x48 gray crops (uint8 tensor ``[B, 48, 48]``) -> ``[B, 3, 112, 112]`` raw pixels that
    look like what the chain feeds the net: the crop resized to 112 at a random scale (tighter or looser
    than FER2013's framing: the landmark-aligned box of a whole face is looser), shifted, rotated, flipped,
    sometimes cut to a non-square box and padded back to square with black (the chain's centred pad),
    with contrast/brightness/gamma jitter and a colour tint (the chain sees colour faces, FER2013 is gray)."""
    import torch
    from torch.nn import functional as F

    b = gray.shape[0]

    def u(lo: float, hi: float, shape: tuple[int, ...] = (b,)) -> Any:
        return torch.rand(shape, generator=gen) * (hi - lo) + lo

    x = gray.float().unsqueeze(1) / 255.0
    gamma = torch.exp(u(-0.35, 0.35) * strength).view(b, 1, 1, 1)
    x = x.clamp_min(1e-4) ** gamma
    mean = x.mean(dim=(2, 3), keepdim=True)
    x = (x - mean) * u(1 - 0.35 * strength, 1 + 0.35 * strength).view(b, 1, 1, 1) + mean
    x = x + u(-0.12, 0.12).view(b, 1, 1, 1) * strength
    x = x.clamp(0, 1) * 255.0
    # geometry: output -> input coordinates (both in [-1, 1])
    scale = torch.exp(u(math.log(0.9), math.log(1.35)) * strength)
    angle = u(-15.0, 15.0) * strength * math.pi / 180
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = u(-0.08, 0.08) * strength, u(-0.08, 0.08) * strength
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, [b, 1, 112, 112], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # the chain's aligned box is mostly wider than tall (w/h 1.1-1.45 on whole faces): the centred pad
    # leaves black bands, mostly above and below
    keep = u(0.68, 0.97)
    cut = torch.rand(b, generator=gen) < 0.6 * strength
    axis_x = torch.rand(b, generator=gen) < 0.2
    coords = (torch.arange(112, dtype=torch.float32) + 0.5) / 56.0 - 1.0
    inside = coords.abs().view(1, 112) <= keep.view(b, 1)
    cols = torch.where((cut & axis_x).view(b, 1), inside, torch.ones_like(inside))
    rows = torch.where((cut & ~axis_x).view(b, 1), inside, torch.ones_like(inside))
    x = x * (rows.view(b, 1, 112, 1) & cols.view(b, 1, 1, 112)).float()
    # colour: warm skin-like tint on some, per-channel gains
    tint = torch.where(torch.rand(b, generator=gen) < 0.6, u(0.0, 0.18), torch.zeros(b)) * strength
    gains = torch.stack([1 + tint, 1 + 0.2 * tint, 1 - 0.6 * tint], 1) * u(0.95, 1.05, (b, 3))
    return (x * gains.view(b, 3, 1, 1)).clamp(0, 255)


def plain_input(gray: np.ndarray) -> Any:
    """The crops as the project feeds them (centred pad, tfjs resize to 112), NCHW tensor."""
    import torch

    rgb = np.repeat(gray[..., None], 3, axis=-1)
    return torch.from_numpy(preprocess(list(rgb))).permute(0, 3, 1, 2).contiguous()


def balanced_accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[labels == k] == k) for k in range(7) if np.any(labels == k)]))


def eval_torch(net: Any, inputs: Any, batch: int = 256) -> np.ndarray:
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, inputs.shape[0], batch):
            out.append(net(inputs[i:i + batch]).numpy())
    net.train()
    return np.concatenate(out)


def train(args: argparse.Namespace) -> None:
    import torch
    from torch.nn import functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    data = np.load(Path(args.cache) / "fer_train.npz")
    images, labels = data["images"], data["labels"]
    fit, held = split_holdout(labels, args.holdout, args.seed)
    held_inputs = plain_input(images[held])
    counts = np.bincount(labels[fit], minlength=7)
    prior = torch.tensor(counts / counts.sum(), dtype=torch.float32)
    adjust = args.tau * torch.log(prior)  # logit adjustment (Menon et al. 2021): balanced-error loss

    init = faceapi_weights()
    net = torch_net(init)
    net.train()
    start = {k: v.detach().clone() for k, v in net.named_parameters()}
    frozen = {f"blocks.{b}." for b in range(args.freeze_blocks)}
    groups: dict[str, list[Any]] = {"low": [], "high": [], "fc": []}
    for name, param in net.named_parameters():
        if any(name.startswith(f) for f in frozen):
            param.requires_grad_(False)
        elif name.startswith("fc."):
            groups["fc"].append(param)
        elif name.startswith(("blocks.0.", "blocks.1.")):
            groups["low"].append(param)
        else:
            groups["high"].append(param)
    opt = torch.optim.Adam([{"params": groups["low"], "lr": args.lr * 0.3}, {"params": groups["high"], "lr": args.lr},
                            {"params": groups["fc"], "lr": args.lr * 3}])
    base_lrs = [g["lr"] for g in opt.param_groups]
    steps_per_epoch = len(fit) // args.batch
    total = int(steps_per_epoch * args.epochs)
    warmup = min(200, total // 10)
    t_img = torch.from_numpy(images)
    t_lab = torch.from_numpy(labels)
    out = Path(args.out)
    log: list[dict[str, Any]] = []
    b0 = balanced_accuracy(eval_torch(net, held_inputs).argmax(1), labels[held])
    print(f"{len(fit)} to fit, {len(held)} held out (face-api.js's net: balanced {b0:.3f} on them); "
          f"{total} steps of {args.batch}, prior {np.round(counts / counts.sum(), 3).tolist()}", flush=True)
    step, t0 = 0, time.perf_counter()
    rng = np.random.default_rng(args.seed)
    while step < total:
        order = rng.permutation(fit)
        for i in range(0, len(order) - args.batch + 1, args.batch):
            if step >= total:
                break
            idx = torch.from_numpy(order[i:i + args.batch])
            x = augment(t_img[idx], gen, args.strength)
            y = t_lab[idx]
            frac = step / max(total, 1)
            scale = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * frac))
            for g, lr in zip(opt.param_groups, base_lrs):
                g["lr"] = lr * scale
            logits = net.forward_frozen(x, args.freeze_blocks)
            loss = F.cross_entropy(logits + adjust, y, label_smoothing=args.smoothing)
            if args.l2sp > 0:
                loss = loss + args.l2sp * sum(((p - start[n]) ** 2).sum() for n, p in net.named_parameters()
                                              if p.requires_grad and not n.startswith("fc."))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % 50 == 0:
                el = time.perf_counter() - t0
                print(f"step {step}/{total} loss {loss.item():.3f} {el / step:.2f} s/step, "
                      f"eta {el / step * (total - step) / 60:.0f} min", flush=True)
            if step % args.eval_every == 0 or step == total:
                held_pred = eval_torch(net, held_inputs).argmax(1)
                entry = {"step": step, "epoch": step / steps_per_epoch, "held_balanced": balanced_accuracy(
                    held_pred, labels[held]), "held_accuracy": float(np.mean(held_pred == labels[held])),
                         "minutes": (time.perf_counter() - t0) / 60}
                log.append(entry)
                print(json.dumps(entry), flush=True)
                write_manifest(tf_weights(net), out / f"step{step}")
    write_manifest(tf_weights(net), out)
    (out / "train_log.json").write_text(json.dumps({"args": vars(args), "log": log}, indent=1) + "\n")
    print(f"wrote {out} in {(time.perf_counter() - t0) / 60:.1f} min")



def head(args: argparse.Namespace) -> None:
    """The cheap variant: face-api.js's net frozen, only its final dense layer refitted (balanced loss) on
    the 256-d pooled features of FER2013's training crops and their mirror images."""
    import torch
    from torch.nn import functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    data = np.load(Path(args.cache) / "fer_train.npz")
    images, labels = data["images"], data["labels"]
    fit, held = split_holdout(labels, args.holdout, args.seed)
    init = faceapi_weights()
    net = torch_net(init).eval()
    t0 = time.perf_counter()
    feats = []
    with torch.no_grad():
        for flip in (False, True):
            for i in range(0, len(images), 256):
                chunk = images[i:i + 256, :, ::-1] if flip else images[i:i + 256]
                feats.append(net.features(plain_input(np.ascontiguousarray(chunk))))
    f_all = torch.cat(feats)
    n = len(images)
    print(f"features of {2 * n} crops in {time.perf_counter() - t0:.0f} s", flush=True)
    fit_idx = torch.from_numpy(np.concatenate([fit, fit + n]))
    x, y = f_all[fit_idx], torch.from_numpy(np.concatenate([labels[fit], labels[fit]]))
    counts = np.bincount(labels[fit], minlength=7)
    adjust = args.tau * torch.log(torch.tensor(counts / counts.sum(), dtype=torch.float32))
    fc = torch.nn.Linear(256, 7)
    fc.load_state_dict(net.fc.state_dict())
    opt = torch.optim.LBFGS(fc.parameters(), lr=1, max_iter=args.iters, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(fc(x) + adjust, y) + args.wd * (fc.weight ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        held_pred = fc(f_all[torch.from_numpy(held)]).argmax(1).numpy()
        base_pred = net.fc(f_all[torch.from_numpy(held)]).argmax(1).numpy()
    print(f"held-out balanced accuracy: face-api.js's fc {balanced_accuracy(base_pred, labels[held]):.3f}, "
          f"refitted {balanced_accuracy(held_pred, labels[held]):.3f}")
    net.fc.load_state_dict(fc.state_dict())
    write_manifest(tf_weights(net), Path(args.out))
    print(f"wrote {args.out}")


def evaluate(args: argparse.Namespace) -> None:
    cache = Path(args.cache)
    models = {"faceapi": faceapi_weights()}
    for folder in args.weights:
        models[Path(folder).name] = read_weights(Path(folder))
    sessions = {name: onnx_session(w) for name, w in models.items()}
    report: dict[str, Any] = {}
    for set_name in args.sets:
        data = load_set(cache, set_name)
        labels = data["labels"]
        report[set_name] = {}
        for name, session in sessions.items():
            pred, _ = predict_set(session, data)
            report[set_name][name] = metrics(pred, labels)
            if name == "faceapi" and EVAL_SETS[set_name] == "chain":
                # our crops + preprocess + graph must give what FaceAnalyzer gave on the same faces
                chain = np.array([-1 if p is None else int(np.argmax(p)) for p in data["chain_probs"]])
                assert np.array_equal(chain, pred), "the chain's own answers differ from the crops' here"
    table = ["| set | model | n | accuracy | balanced | " + " | ".join(LABELS) + " |",
             "|---|---|---|---|---|" + "---|" * 7]
    for set_name, per in report.items():
        for name, m in per.items():
            rec = " | ".join(f"{100 * m['recall'][lab]:.1f}" if lab in m["recall"] else "-" for lab in LABELS)
            table.append(f"| {set_name} | {name} | {m['n']} | {100 * m['accuracy']:.1f} | "
                         f"{100 * m['balanced_accuracy']:.1f} | {rec} |")
    print("\n".join(table))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


# -- command line ----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--fer-train", required=True, help="the unpacked fer2013-train/ folder")
    p.add_argument("--eval", default=str(SHARED / "eval" / "expressions"))
    p.add_argument("--cache", required=True)
    p = sub.add_parser("verify")
    p.add_argument("--cache", required=True)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("train")
    p.add_argument("--cache", required=True)
    p.add_argument("--out", required=True, help="folder for the weights (manifest + bin) and the log")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4, help="Adam rate of blocks 2-3 (0.3x blocks 0-1, 3x the fc)")
    p.add_argument("--freeze-blocks", type=int, default=2, help="keep the first N dense blocks as face-api.js's")
    p.add_argument("--tau", type=float, default=1.0, help="logit adjustment strength (1: balanced loss)")
    p.add_argument("--smoothing", type=float, default=0.05)
    p.add_argument("--l2sp", type=float, default=1e-3, help="pull toward face-api.js's weights (L2-SP)")
    p.add_argument("--strength", type=float, default=1.0, help="augmentation strength")
    p.add_argument("--holdout", type=float, default=0.05)
    p.add_argument("--eval-every", type=int, default=300)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("head")
    p.add_argument("--cache", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--tau", type=float, default=1.0)
    p.add_argument("--wd", type=float, default=1e-4)
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--holdout", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("evaluate")
    p.add_argument("--cache", required=True)
    p.add_argument("--weights", nargs="*", default=[], help="weight folders (manifest + bin) to compare")
    p.add_argument("--sets", nargs="+", default=list(EVAL_SETS))
    p.add_argument("--json")
    args = parser.parse_args()
    {"prepare": prepare, "verify": verify, "train": train, "head": head, "evaluate": evaluate}[args.stage](args)


if __name__ == "__main__":
    main()
