"""Render the model card (Markdown) from the training record and `emodesk eval` reports.

    python models/training/write_card.py models/emodesk_fer_v1.train.json \
        --eval fer2013-val=reports/val.json --eval jaffe-detect=reports/jaffe.json > models/emodesk_fer_v1.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def table(report: dict) -> str:
    lines = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label in report["labels"]:
        c = report["per_class"][label]
        lines.append(f"| {label} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    return "\n".join(lines)


# the sections every card of ours shares: what it learned from and how the app feeds it
DATA = [
    "## Data",
    "- Train: `fer2013/train` (28,322 images: the official FER2013 Training split minus 387 exact duplicates of",
    "  PrivateTest images). Model selection: `fer2013/val` (3,543 PublicTest images) only. PrivateTest unused.",
    "- FER2013 has no explicit licence (research use); the weights are ours, the data's terms still apply to",
    "  how you use a model learned from it.",
    "",
    "## Input (the app and training use the same function)",
    "- Crop: the square of the detector box's longer side, centred (`box_square`, no margin). Measured on 600",
    "  upscaled FER2013 val images, YuNet's box is 0.81 of the image wide and 1.00 high, centred, so this",
    "  square reproduces FER2013's framing.",
    "- On whole heads (JAFFE, the shared videos) that square is looser than FER2013's framing: YuNet's eye-to-mouth",
    "  distance is 0.34-0.38 of its side against 0.39 of a FER2013 image; training's scale jitter (0.88-1.12)",
    "  covers the gap. Aligning the 5 keypoints to their mean position on 2,000 fer2013/train images instead",
    "  did worse with `emodesk_fer_v1` (fer2013/val detect 63.6 % vs 64.5 %, JAFFE detect 42.1 % vs 44.3 %).",
    "- Grey, resized to 48x48, `(x/255 - 0.5) / 0.5`, NCHW `[N, 1, 48, 48]`. Training calls",
    "  `emodesk.inference.classifiers.to_tensor` (via `models/training/recipe.py`), as the app's adapter does.",
    "",
]


def network_sections(t: dict) -> list[str]:
    a = t["args"]
    best = t["history"][t["best_epoch"] - 1]
    lowres = float(a.get("lowres", 0))
    return [
        "## File",
        f"- sha256 `{t['sha256']}`, {t['size']:,} bytes, ONNX opset 17, dynamic batch.",
        f"- {t['params']:,} parameters. Mirror-image test-time augmentation inside the graph: {'yes' if t['flip_tta_in_graph'] else 'no'}.",
        f"- ONNX vs PyTorch on 64 val images: max |Δlogit| = {t['onnx_vs_torch_max_abs_diff']:.2e}.",
        "",
        *DATA,
        "## Architecture and recipe",
        f"- VGG-style CNN: 4 stages x 2 (3x3 conv, BN, ReLU) + max-pool, widths 32-64-128-256 x {a['width']},",
        "  global average pool, dropout 0.4, linear.",
        f"- {a['epochs']} epochs, batch {a['batch']}, SGD Nesterov momentum 0.9, lr {a['lr']} ({a.get('warmup_epochs', 2)}-epoch warm-up, cosine),",
        f"  weight decay {a['weight_decay']}, label smoothing {a['label_smoothing']}, class weights sqrt(max/count).",
        "- Augmentation on the training device: affine (±12°, scale 0.88-1.12, shift ±10 %), horizontal flip,",
        (
            "  contrast 0.75-1.25, brightness ±0.2, random erasing (half the batch, 2-20 % of the area)"
            + (f", and {lowres * 100:.0f} % of each batch shrunk to 12-36 px and enlarged back (video-sized, blurred faces)." if lowres else ".")
        ),
        f"- Seed {a['seed']}. Device `{t['device']}`, bf16 autocast {t['bf16']}, torch {t['torch']}, Python {t['python']}.",
        (
            f"- Training took {t['train_seconds'] / 60:.1f} min. Best epoch {t['best_epoch']}: val accuracy {best['val_acc']:.4f}"
            f" (with flip TTA {best['val_acc_flip_tta']:.4f})."
        ),
        "",
        "## Reproduce",
        "```bash",
        'pip install -e ".[train]"',
        t["command"],
        "```",
        "",
    ]


def distillation_sections(t: dict) -> list[str]:
    """What a ``distill.py`` student learned from, and how (after the network sections)."""
    d = t["distillation"]
    teachers = ", ".join(f"`{m['file']}` (`{m['sha256'][:12]}…`)" for m in d["teachers"])
    boost = ", ".join(d["class_boost"]) or "none"
    over = ", ".join(d["oversample"]) or "none"
    return [
        "## Distillation (`models/training/distill.py`)",
        f"- Teacher: the mean logits of {teachers}, computed once over fer2013/train for each image and its mirror",
        f"  image (teacher accuracy on train {d['teacher_train_accuracy']:.4f}).",
        f"- Student start: {'`' + Path(d['init']).name + '` (BN rebuilt from batch statistics)' if d['init'] else 'random'}.",
        f"- Loss: {d['alpha']} x T^2 x KL(teacher_T || student_T), T = {d['temperature']}, plus {1 - float(d['alpha']):.1f} x the",
        f"  cross-entropy above; mixup on {float(d['mixup']) * 100:.0f} % and cutmix on {float(d['cutmix']) * 100:.0f} % of batches",
        f"  (targets mixed alike); class weight boosts: {boost}; oversampling: {over}.",
        f"- Epochs: {d['epochs_done']} done of a {d['epochs_planned']}-epoch cosine schedule; torch on one thread. A run that",
        f"  stopped goes on with `python models/training/distill.py train --resume RUN/last.pt --epochs {d['epochs_planned']}`.",
        "",
        "## Reproduce the export",
        "```bash",
        t["export_command"],
        "```",
        "",
    ]


def ensemble_sections(t: dict) -> list[str]:
    lines = [
        "## File",
        f"- sha256 `{t['sha256']}`, {t['size']:,} bytes, ONNX, dynamic batch, {t['params']:,} weights in all.",
        f"- One graph that runs {len(t['members'])} networks trained by `train_fer.py` on the same input tensor and",
        "  averages their logits (each member already averages the face and its mirror image). Members:",
        "",
        "| member | sha256 | val accuracy | val balanced accuracy |",
        "|---|---|---|---|",
    ]
    for m in t["members"]:
        lines.append(f"| `{m['file']}` | `{m['sha256'][:12]}…` | {m['val_accuracy']:.4f} | {m['val_balanced_accuracy']:.4f} |")
    lines += [
        "",
        (
            f"The merged file on val (onnxruntime, CPU): accuracy {t['val_accuracy']:.4f}, balanced accuracy"
            f" {t['val_balanced_accuracy']:.4f}. Each member's own card gives its architecture, recipe and command."
        ),
        "",
        *DATA,
        "## Reproduce",
        "Train each member with the command in its card, then:",
        "```bash",
        'pip install -e ".[train]"',
        t["command"],
        "```",
        "",
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train_json", type=Path, help="record written by train_fer.py or ensemble.py")
    ap.add_argument("--eval", action="append", default=[], metavar="NAME=REPORT.json")
    ap.add_argument("--speed", default="", help="a line of measured speed to include")
    ap.add_argument("--limit", action="append", default=[], help="a known limit (one bullet), e.g. from the video check")
    args = ap.parse_args()
    t = json.loads(args.train_json.read_text())
    out = [
        f"# Model card: `{Path(t['file']).stem}` (`{t['file']}`)",
        "",
        "emodesk's own facial-expression classifier: 7 classes (anger, disgust, fear, happiness, neutral, sadness,",
        "surprise; no contempt), one 48x48 grey face crop in, logits out. Trained by this project; weights MIT.",
        "",
        *(ensemble_sections(t) if "members" in t else network_sections(t)),
        *(distillation_sections(t) if "distillation" in t else []),
        "## Results (the exported ONNX file through `emodesk eval`)",
    ]
    for item in args.eval:
        name, path = item.split("=", 1)
        r = json.loads(Path(path).read_text())
        out += [
            "",
            f"### {name}: accuracy {r['accuracy']:.4f}, balanced accuracy {r['balanced_accuracy']:.4f}, macro F1 {r['macro_f1']:.4f} (n = {r['n']})",
            "",
            table(r),
        ]
    if args.speed:
        out += ["", "## Speed", args.speed]
    out += [
        "",
        "## Limits",
        "- FER2013 labels are noisy (human accuracy about 65 %); faces are mostly frontal, web images.",
        "- No contempt class. Posed, subtle expressions (JAFFE) are much harder than FER2013.",
        *(f"- {line}" for line in args.limit),
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
