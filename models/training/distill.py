"""Distil an ensemble of emodesk's trained FER networks into one fast network, on the CPU, resumable.

    pip install -e ".[train]"
    nohup nice -n 15 python models/training/distill.py train --data ../shared/data/fer2013 \\
        --teacher models/emodesk_fer_v1.onnx --teacher models/emodesk_fer_v2.onnx \\
        --init models/emodesk_fer_v2.onnx --run models/training/runs/kd1 --epochs 40 > kd1.log 2>&1 &
    python models/training/distill.py train --resume models/training/runs/kd1/last.pt   # go on after a stop
    python models/training/distill.py export --ckpt models/training/runs/kd1/best.pt --data ../shared/data/fer2013 \\
        --out models/emodesk_fer_v3.onnx

Teacher: the members' logits (each member's graph already averages the face and its mirror image), averaged
over the members, computed ONCE over the whole training split for every image and for its mirror image, and
cached in ``<run>/../cache/`` keyed by the members' sha256 (git-ignored), so a resumed or repeated run never
pays for the teacher again. Student: ``train_fer.FerNet`` (the network of v1/v2, about 1 ms per face with the
mirror pass on 2 cores), from scratch or warm-started from an exported ONNX file (``--init``; its BN layers,
folded into the convolutions at export, are rebuilt from batch statistics so the start reproduces the file).

Loss: ``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, label)`` with label smoothing and
square-root inverse-frequency class weights, times ``--class-boost`` (disgust: 411 of 28,322 images; neutral,
which in-the-wild video tends to read as sadness). Disgust images are also drawn ``--oversample`` times as
often. Each batch gets the v1/v2 augmentation (affine, brightness/contrast, low resolution, erasing), then
mixup or cutmix on a share of batches (the soft targets and the labels are mixed alike). SGD Nesterov,
linear warm-up then cosine. A checkpoint is written after every epoch (``last.pt``; ``best.pt`` when val
accuracy improves), holding the model, optimiser, step, random state and history: ``--resume`` continues the
same schedule, so a run can span sessions. Torch runs on ``--threads`` threads (1 by default: the CPU is shared).
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
import onnx
import torch
import torch.nn.functional as F  # noqa: N812
from onnx import numpy_helper
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recipe  # noqa: E402
import train_fer  # noqa: E402


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def teacher_logits(teachers: list[Path], x: np.ndarray, cache_dir: Path) -> np.ndarray:
    """Mean member logits for every image and its mirror image, ``(N, 2, classes)``, computed once and cached."""
    key = hashlib.sha256(("|".join(sha256_file(p) for p in teachers) + f"|{x.shape}|{float(x.sum()):.6e}").encode()).hexdigest()[:16]
    cache = cache_dir / f"teacher_{key}.npy"
    if cache.is_file():
        print(f"teacher logits from the cache {cache}", flush=True)
        return np.load(cache)
    t0 = time.time()
    mirrored = np.ascontiguousarray(x[..., ::-1])
    per_member = [np.stack([recipe.onnx_logits(p, x), recipe.onnx_logits(p, mirrored)], axis=1) for p in teachers]
    logits = np.mean(per_member, axis=0).astype(np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache, logits)
    print(f"teacher logits computed in {time.time() - t0:.0f} s and cached in {cache}", flush=True)
    return logits


def init_from_onnx(model: train_fer.FerNet, path: Path, sample: torch.Tensor) -> None:
    """Load an exported FerNet (BN folded into conv weights and biases) into ``model`` and rebuild its BN layers.

    Each BN gets the batch statistics of its convolution's output on ``sample`` as its running statistics and
    the matching scale and shift, so that in eval mode BN(conv(x)) = folded_conv(x) exactly, and in training
    mode (batch statistics) nearly so.
    """
    graph = onnx.load(str(path)).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    convs, seen = [], set()
    for node in graph.node:
        # the mirror-image pass reaches the same weights through Identity nodes: the first pass is enough
        if node.op_type == "Conv" and node.input[1] in weights and node.input[1] not in seen:
            seen.add(node.input[1])
            convs.append((weights[node.input[1]], weights[node.input[2]]))
    pairs = [(m, model.features[i + 1]) for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)]
    if len(convs) != len(pairs):
        raise SystemExit(f"{path}: {len(convs)} convolutions, the student has {len(pairs)}; use the same --width")
    linear = model.head[-1]
    with torch.no_grad():
        for (w, b), (conv, bn) in zip(convs, pairs):
            if tuple(conv.weight.shape) != w.shape:
                raise SystemExit(f"{path}: conv shape {w.shape} does not fit the student's {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(w))
            bn.running_mean.zero_()
            bn.running_var.fill_(1 - bn.eps)
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(b))
        linear.weight.copy_(torch.from_numpy(weights[[k for k in weights if k.endswith("head.3.weight")][0]]))
        linear.bias.copy_(torch.from_numpy(weights[[k for k in weights if k.endswith("head.3.bias")][0]]))
        # the network is now exact in eval mode; record each conv's output statistics through it
        outs: dict[nn.Module, torch.Tensor] = {}
        hooks = [conv.register_forward_hook(lambda m, i, o: outs.__setitem__(m, o)) for conv, _ in pairs]
        model.eval()
        model(sample)
        for h in hooks:
            h.remove()
        for (_, b), (conv, bn) in zip(convs, pairs):
            y = outs[conv]
            mean = y.mean(dim=(0, 2, 3))
            std = torch.sqrt(y.var(dim=(0, 2, 3), unbiased=False) + bn.eps)
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(std**2 - bn.eps)
            bn.weight.copy_(std)
            bn.bias.copy_(mean + torch.from_numpy(b))


def mix(x: torch.Tensor, soft: torch.Tensor, hard: torch.Tensor, gen: torch.Generator, args: argparse.Namespace):  # noqa: ANN201
    """Mixup or cutmix on a share of batches: returns inputs, mixed soft targets, both hard labels and lambda."""
    n = x.shape[0]
    perm = torch.randperm(n, generator=gen, device=x.device)
    r = float(torch.rand(1, generator=gen, device=x.device))
    if r < args.mixup:
        lam = float(np.random.beta(0.4, 0.4))
        x = lam * x + (1 - lam) * x[perm]
    elif r < args.mixup + args.cutmix:
        lam = float(np.random.beta(1.0, 1.0))
        side = 48
        h = int(round(side * math.sqrt(1 - lam)))
        y0, x0 = np.random.randint(0, side - h + 1, size=2)
        x = x.clone()
        x[:, :, y0 : y0 + h, x0 : x0 + h] = x[perm][:, :, y0 : y0 + h, x0 : x0 + h]
        lam = 1 - h * h / (side * side)
    else:
        return x, soft, hard, hard, 1.0
    return x, lam * soft + (1 - lam) * soft[perm], hard, hard[perm], lam


def save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a stop while saving never leaves a half-written checkpoint


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    resume = None
    if args.resume:
        resume = torch.load(args.resume, map_location="cpu", weights_only=False)
        saved = resume["args"]
        epochs = args.epochs
        args = argparse.Namespace(**{**saved, "resume": args.resume, "threads": args.threads})
        if epochs:  # a longer run on resume: the cosine schedule is stretched from here on
            args.epochs = epochs
        print(f"resuming {args.resume} at epoch {resume['epoch']} of {args.epochs}", flush=True)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device(args.device)
    bf16 = args.bf16
    print(f"device {device}, bf16 autocast {bf16}, torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)

    data = Path(args.data)
    train_imgs, train_y, _ = recipe.read_split(data / "train")
    val_imgs, val_y, _ = recipe.read_split(data / "val")
    x_train_np = recipe.preprocess(train_imgs)
    teachers = [Path(p) for p in args.teacher]
    t_logits = teacher_logits(teachers, x_train_np, run.parent / "cache")
    t_acc = float(np.mean(t_logits[:, 0].argmax(1) == train_y))
    x_train = torch.from_numpy(x_train_np).to(device)
    x_val = torch.from_numpy(recipe.preprocess(val_imgs)).to(device)
    y_train = torch.from_numpy(train_y).to(device)
    y_val = torch.from_numpy(val_y).to(device)
    soft_all = torch.from_numpy(t_logits).to(device)

    classes = len(recipe.LABELS)
    counts = np.bincount(train_y, minlength=classes)
    w = (counts.max() / counts) ** 0.5
    for item in args.class_boost:
        name, factor = item.split("=")
        w[recipe.LABELS.index(name)] *= float(factor)
    weights = torch.tensor(w / w.mean(), dtype=torch.float32, device=device)
    draw = np.ones(len(train_y))
    for item in args.oversample:
        name, factor = item.split("=")
        draw[train_y == recipe.LABELS.index(name)] = float(factor)
    draw_t = torch.tensor(draw / draw.sum(), dtype=torch.float32, device=device)
    print(
        f"train {len(train_y)}, val {len(val_y)}, teacher train accuracy {t_acc:.4f}, class weights"
        f" {np.round(weights.cpu().numpy(), 2).tolist()}",
        flush=True,
    )

    model = train_fer.FerNet(args.width, classes).to(device)
    if args.init and resume is None:
        sample = torch.from_numpy(x_train_np[:: max(1, len(x_train_np) // 4096)])
        init_from_onnx(model, Path(args.init), sample)
        acc, _ = train_fer.evaluate(model, x_val, y_val, tta=True, bf16=False)
        print(f"warm start from {args.init}: val accuracy with flip TTA {acc:.4f}", flush=True)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(y_train) / args.batch)
    warmup = args.warmup_epochs * steps_per_epoch
    gen = torch.Generator(device=device).manual_seed(args.seed)
    history: list[dict] = []
    best = {"acc": -1.0, "epoch": 0}
    start_epoch, step = 0, 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["opt"])
        gen.set_state(resume["gen"])
        np.random.set_state(resume["np_random"])
        torch.set_rng_state(resume["torch_random"])
        history, best, start_epoch, step = resume["history"], resume["best"], resume["epoch"], resume["step"]

    def lr_at(s: int) -> float:
        total = args.epochs * steps_per_epoch
        if s < warmup:
            return args.lr * (s + 1) / warmup
        return args.lr * 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup)))

    started = time.time()
    for epoch in range(start_epoch, args.epochs):
        model.train()
        t0 = time.time()
        order = torch.multinomial(draw_t, len(y_train), replacement=True, generator=gen)
        totals = {"loss": 0.0, "kd": 0.0, "ce": 0.0}
        for i in range(0, len(order), args.batch):
            idx = order[i : i + args.batch]
            n = len(idx)
            mirror = torch.rand(n, generator=gen, device=device) < 0.5
            xb = torch.where(mirror.view(n, 1, 1, 1), torch.flip(x_train[idx], dims=[3]), x_train[idx])
            soft = soft_all[idx, mirror.long()]  # the teacher's logits of the image as the student sees it
            xb = train_fer.augment(xb, gen, args.lowres, flip=False)
            soft_p = F.softmax(soft / args.temperature, dim=1)
            xb, soft_p, ya, yb, lam = mix(xb, soft_p, y_train[idx], gen, args)
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(xb.contiguous(memory_format=torch.channels_last))
            logits = logits.float()
            kd = F.kl_div(F.log_softmax(logits / args.temperature, dim=1), soft_p, reduction="batchmean") * args.temperature**2
            ce = lam * F.cross_entropy(logits, ya, weight=weights, label_smoothing=args.label_smoothing) + (1 - lam) * F.cross_entropy(
                logits, yb, weight=weights, label_smoothing=args.label_smoothing
            )
            loss = args.alpha * kd + (1 - args.alpha) * ce
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in (("loss", loss), ("kd", kd), ("ce", ce)):
                totals[k] += float(v.detach()) * n
            step += 1
        acc, _ = train_fer.evaluate(model, x_val, y_val, tta=False, bf16=bf16)
        acc_tta, pred = train_fer.evaluate(model, x_val, y_val, tta=True, bf16=bf16)
        record = {
            "epoch": epoch + 1,
            **{k: v / len(y_train) for k, v in totals.items()},
            "lr_end": lr_at(step - 1),
            "val_acc": acc,
            "val_acc_flip_tta": acc_tta,
            "val_balanced_flip_tta": recipe.macro_recall(val_y, pred, classes),
            "seconds": time.time() - t0,
        }
        history.append(record)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}), flush=True)
        state = {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "gen": gen.get_state(),
            "np_random": np.random.get_state(),
            "torch_random": torch.get_rng_state(),
            "epoch": epoch + 1,
            "step": step,
            "history": history,
            "best": best,
            "args": {k: v for k, v in vars(args).items()},
            "teacher_train_accuracy": t_acc,
            "teachers": [{"file": p.name, "sha256": sha256_file(p)} for p in teachers],
            "torch": torch.__version__,
        }
        score = max(acc, acc_tta)
        if score > best["acc"]:
            best = {"acc": score, "epoch": epoch + 1, "tta": acc_tta >= acc}
            state["best"] = best
            save_checkpoint(run / "best.pt", state)
        save_checkpoint(run / "last.pt", state)
    print(f"done: best val accuracy {best['acc']:.4f} at epoch {best['epoch']}; {time.time() - started:.0f} s this sitting", flush=True)


def export(args: argparse.Namespace) -> None:
    ckpt = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    saved = ckpt["args"]
    val_imgs, val_y, _ = recipe.read_split(Path(args.data) / "val")
    model = train_fer.FerNet(saved["width"], len(recipe.LABELS))
    model.load_state_dict(ckpt["model"])
    summary = train_fer.export_onnx(model, tta=bool(ckpt["best"].get("tta", True)), out=args.out, val_imgs=val_imgs, val_y=val_y)
    history = ckpt["history"]
    summary.update(
        {
            "best_epoch": ckpt["epoch"],
            "train_seconds": round(sum(h["seconds"] for h in history), 1),
            "device": saved["device"],
            "bf16": saved["bf16"],
            "torch": ckpt["torch"],
            "python": platform.python_version(),
            "command": "python models/training/distill.py train " + " ".join(saved.get("argv", [])),
            "export_command": "python " + " ".join(sys.argv),
            "distillation": {
                "teachers": ckpt["teachers"],
                "teacher_train_accuracy": ckpt["teacher_train_accuracy"],
                "init": saved["init"],
                "temperature": saved["temperature"],
                "alpha": saved["alpha"],
                "mixup": saved["mixup"],
                "cutmix": saved["cutmix"],
                "class_boost": saved["class_boost"],
                "oversample": saved["oversample"],
                "epochs_planned": saved["epochs"],
                "epochs_done": len(history),
            },
            "args": {k: str(v) for k, v in saved.items()},
            "history": history,
        }
    )
    args.out.with_suffix(".train.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train (or --resume) a distilled student")
    tr.add_argument("--resume", type=Path, help="checkpoint to continue from (every other option comes from it)")
    tr.add_argument("--data", help="folder with train/ and val/ (FER2013 layout)")
    tr.add_argument("--teacher", action="append", default=[], help="ONNX file of a teacher member (repeat)")
    tr.add_argument("--init", default=None, help="exported ONNX FerNet to start the student from")
    tr.add_argument("--run", help="folder for checkpoints (the teacher cache goes beside it, in cache/)")
    tr.add_argument("--epochs", type=int, default=0, help="cosine schedule length (on --resume: a new total)")
    tr.add_argument("--width", type=float, default=1.0)
    tr.add_argument("--batch", type=int, default=128)
    tr.add_argument("--lr", type=float, default=0.05)
    tr.add_argument("--warmup-epochs", type=int, default=2)
    tr.add_argument("--weight-decay", type=float, default=5e-4)
    tr.add_argument("--label-smoothing", type=float, default=0.1)
    tr.add_argument("--temperature", type=float, default=4.0, help="softening of teacher and student logits in the KD term")
    tr.add_argument("--alpha", type=float, default=0.7, help="weight of the KD term (1 - alpha: hard labels)")
    tr.add_argument("--mixup", type=float, default=0.25, help="share of batches mixed with mixup")
    tr.add_argument("--cutmix", type=float, default=0.25, help="share of batches mixed with cutmix")
    tr.add_argument("--lowres", type=float, default=0.25)
    tr.add_argument("--class-boost", action="append", default=[], metavar="LABEL=FACTOR", help="extra CE weight for a class")
    tr.add_argument("--oversample", action="append", default=[], metavar="LABEL=FACTOR", help="draw a class's images FACTOR times as often")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--device", default="cpu")
    tr.add_argument("--bf16", action="store_true", help="bf16 autocast (faster only on CPUs with native bf16)")
    tr.add_argument("--threads", type=int, default=1, help="torch threads (the CPU is shared: 1 by default)")
    ex = sub.add_parser("export", help="export a checkpoint to ONNX with its training record (*.train.json)")
    ex.add_argument("--ckpt", type=Path, required=True)
    ex.add_argument("--data", required=True)
    ex.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.command == "export":
        export(args)
        return
    if not args.resume:
        missing = [name for name in ("data", "run") if not getattr(args, name)]
        if missing or not args.teacher or not args.epochs:
            ap.error("train needs --data, --run, --epochs and at least one --teacher (or --resume)")
        args.argv = sys.argv[2:]
    train(args)


if __name__ == "__main__":
    main()
