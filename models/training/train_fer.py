"""Train emodesk's own facial-expression model on FER2013 and export it to ONNX with a model card.

    pip install -e ".[train]"
    python models/training/train_fer.py --data ../shared/data/fer2013 --out models/emodesk_fer_v1.onnx

Selection uses ``fer2013/val`` only. The whole dataset lives in memory as one tensor and is augmented
batch-wise on the training device (random affine: shift/scale/rotation, horizontal flip, brightness and
contrast, random erasing; with ``--lowres``, a share of each batch shrunk to 12-36 px and enlarged back), so
a CPU epoch takes well under a minute and a GPU epoch seconds. Loss:
cross-entropy with label smoothing and square-root inverse-frequency class weights (FER2013's disgust class
is 17x smaller than happiness). SGD with Nesterov momentum, linear warm-up then cosine decay. On CPUs with
bf16 support autocast halves the step time. The exported graph averages the logits of the face and its
mirror image (test-time augmentation), when that helps on val.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recipe  # noqa: E402


def conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class FerNet(nn.Module):
    """VGG-style: four stages of two 3x3 conv-BN-ReLU, max-pool; global average pool; dropout; linear."""

    def __init__(self, width: float = 1.0, classes: int = 7, dropout: float = 0.4) -> None:
        super().__init__()
        channels = [max(8, int(c * width)) for c in (32, 64, 128, 256)]
        layers: list[nn.Module] = []
        cin = 1
        for cout in channels:
            layers += conv_bn(cin, cout) + conv_bn(cout, cout) + [nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class FlipAveraged(nn.Module):
    """Test-time augmentation inside the graph: mean logits of the input and its mirror image."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.net(x) + self.net(torch.flip(x, dims=[3])))


def augment(x: torch.Tensor, gen: torch.Generator, lowres: float = 0.0, *, flip: bool = True) -> torch.Tensor:
    """Batch augmentation of normalised (N, 1, 48, 48) images in [-1, 1].

    ``flip=False`` leaves the mirror image out, for callers that flip themselves (distillation picks the
    teacher's logits of the mirrored image for the rows it mirrored).

    ``lowres`` is the share of the batch shrunk to 12-36 px and blown back up: faces in video are often
    smaller than 48 px, blurred by motion or compression, and the app then upscales its crop.
    """
    n, dev = x.shape[0], x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen, device=dev) * (hi - lo) + lo

    angle = uniform(-12, 12) * math.pi / 180
    scale = uniform(0.88, 1.12)
    tx, ty = uniform(-0.1, 0.1), uniform(-0.1, 0.1)
    mirror = torch.rand(n, generator=gen, device=dev) < 0.5
    flip = torch.where(mirror & flip, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # pad with the image's own border, as a loose face crop continues past its edges
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = uniform(0.75, 1.25).view(n, 1, 1, 1)
    brightness = uniform(-0.2, 0.2).view(n, 1, 1, 1)
    x = (x * contrast + brightness).clamp(-1, 1)
    if lowres > 0:
        side = int(torch.randint(12, 37, (1,), generator=gen, device=dev))
        small = F.interpolate(x, size=(side, side), mode="area")
        blurred = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
        pick = (torch.rand(n, generator=gen, device=dev) < lowres).view(n, 1, 1, 1)
        x = torch.where(pick, blurred, x)
    # random erasing: one rectangle of 2-20 % of the image, filled with noise, on half the batch
    area = uniform(0.02, 0.2)
    aspect = torch.exp(uniform(math.log(0.3), math.log(3.3)))
    h = (torch.sqrt(area * aspect) * 48).clamp(2, 47).long()
    w = (torch.sqrt(area / aspect) * 48).clamp(2, 47).long()
    y0 = (torch.rand(n, generator=gen, device=dev) * (48 - h)).long()
    x0 = (torch.rand(n, generator=gen, device=dev) * (48 - w)).long()
    rows = torch.arange(48, device=dev).view(1, 48, 1)
    cols = torch.arange(48, device=dev).view(1, 1, 48)
    mask = (rows >= y0.view(n, 1, 1)) & (rows < (y0 + h).view(n, 1, 1)) & (cols >= x0.view(n, 1, 1)) & (cols < (x0 + w).view(n, 1, 1))
    mask &= (torch.rand(n, generator=gen, device=dev) < 0.5).view(n, 1, 1)
    noise = torch.rand(x.shape, generator=gen, device=dev) * 2 - 1
    return torch.where(mask.unsqueeze(1), noise, x)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, tta: bool, bf16: bool, batch: int = 512) -> tuple[float, np.ndarray]:
    model.eval()
    preds = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(xb).float()
            if tta:
                logits = 0.5 * (logits + model(torch.flip(xb, dims=[3])).float())
        preds.append(logits.argmax(1))
    pred = torch.cat(preds)
    return float((pred == y).float().mean()), pred.cpu().numpy()


def export_onnx(model: nn.Module, *, tta: bool, out: Path, val_imgs: np.ndarray, val_y: np.ndarray) -> dict:
    """Write ``model`` (with mirror-image averaging inside the graph when ``tta``) as ONNX and check the file.

    The exported file is run by onnxruntime on the CPU exactly as the app runs it; the returned record holds
    its sha256, size and val figures, and how far its logits are from PyTorch's.
    """
    model = model.float().eval().to("cpu").to(memory_format=torch.contiguous_format)
    export = (FlipAveraged(model) if tta else model).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.from_numpy(recipe.preprocess(val_imgs[:2]))
    torch.onnx.export(
        export,
        (dummy,),
        str(out),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    x_val_np = recipe.preprocess(val_imgs)
    logits = recipe.onnx_logits(out, x_val_np)
    pred = logits.argmax(1)
    with torch.no_grad():
        torch_logits = export(torch.from_numpy(x_val_np[:64])).numpy()
    return {
        "model_id": recipe.MODEL_ID,
        "file": out.name,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "size": out.stat().st_size,
        "val_accuracy": float(np.mean(pred == val_y)),
        "val_balanced_accuracy": recipe.macro_recall(val_y, pred, len(recipe.LABELS)),
        "flip_tta_in_graph": bool(tta),
        "onnx_vs_torch_max_abs_diff": float(np.abs(torch_logits - logits[:64]).max()),
        "params": sum(p.numel() for p in model.parameters()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with train/ and val/ (FER2013 layout)")
    ap.add_argument("--out", type=Path, required=True, help="ONNX file to write; the model card goes beside it (.md)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--width", type=float, default=1.0, help="channel multiplier of the 32-64-128-256 stages")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--lowres", type=float, default=0.0, help="share of each batch trained at a lower resolution (0 to 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--no-bf16", action="store_true", help="train in fp32 even where bf16 autocast is available")
    args = ap.parse_args()

    started = time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else (args.device if args.device != "auto" else "cpu"))
    bf16 = not args.no_bf16 and (device.type == "cuda" or torch.backends.mkldnn.is_available())
    print(f"device {device}, bf16 autocast {bf16}, torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)

    train_imgs, train_y, _ = recipe.read_split(args.data / "train")
    val_imgs, val_y, _ = recipe.read_split(args.data / "val")
    # the app's own preprocessing function, applied once to the whole dataset
    x_train = torch.from_numpy(recipe.preprocess(train_imgs)).to(device)
    x_val = torch.from_numpy(recipe.preprocess(val_imgs)).to(device)
    y_train = torch.from_numpy(train_y).to(device)
    y_val = torch.from_numpy(val_y).to(device)
    classes = len(recipe.LABELS)
    counts = np.bincount(train_y, minlength=classes)
    weights = torch.tensor((counts.max() / counts) ** 0.5, dtype=torch.float32, device=device)
    weights = weights / weights.mean()
    print(f"train {len(train_y)}, val {len(val_y)}, class counts {counts.tolist()}, weights {np.round(weights.cpu().numpy(), 2).tolist()}", flush=True)

    model = FerNet(args.width, classes).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(y_train) / args.batch)
    total = args.epochs * steps_per_epoch
    warmup = 2 * steps_per_epoch

    def lr_at(step: int) -> float:
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return args.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    gen = torch.Generator(device=device).manual_seed(args.seed)
    best = {"acc": -1.0}
    history = []
    step = 0
    for epoch in range(args.epochs):
        model.train()
        t0 = time.time()
        order = torch.randperm(len(y_train), generator=gen, device=device)
        running = 0.0
        for i in range(0, len(order), args.batch):
            idx = order[i : i + args.batch]
            xb = augment(x_train[idx], gen, args.lowres).contiguous(memory_format=torch.channels_last)
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), y_train[idx], weight=weights, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += float(loss.detach()) * len(idx)
            step += 1
        acc, _ = evaluate(model, x_val, y_val, tta=False, bf16=bf16)
        acc_tta, pred = evaluate(model, x_val, y_val, tta=True, bf16=bf16)
        record = {"epoch": epoch + 1, "loss": running / len(y_train), "val_acc": acc, "val_acc_flip_tta": acc_tta, "seconds": time.time() - t0}
        history.append(record)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}), flush=True)
        score = max(acc, acc_tta)
        if score > best["acc"]:
            best = {"acc": score, "epoch": epoch + 1, "tta": acc_tta > acc, "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}

    model.load_state_dict(best["state"])
    summary = export_onnx(model, tta=bool(best["tta"]), out=args.out, val_imgs=val_imgs, val_y=val_y)
    summary.update(
        {
            "best_epoch": best["epoch"],
            "train_seconds": round(time.time() - started, 1),
            "device": str(device),
            "bf16": bf16,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "command": "python " + " ".join(sys.argv),
            "args": {k: str(v) for k, v in vars(args).items()},
            "history": history,
        }
    )
    args.out.with_suffix(".train.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1), flush=True)


if __name__ == "__main__":
    main()
