"""Merge emodesk FER models into one ONNX graph that averages their logits, and record what it scores on val.

    python models/training/ensemble.py models/emodesk_fer_v2.onnx v3.onnx --data ../shared/data/fer2013 --out ens.onnx

Every member must take the input of ``recipe.INPUT_SPEC`` (one ``input`` [N, 1, 48, 48], ``logits`` [N, 7] out),
which is what ``train_fer.py`` exports. The members' graphs run side by side on the same tensor, so the app
still makes one onnxruntime call per batch of faces. The record (``*.train.json``) lists each member's file
and sha256 and the merged file's val metrics, computed by onnxruntime on the CPU as the app runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import compose, helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recipe  # noqa: E402


def merge(paths: list[Path]) -> onnx.ModelProto:
    """One graph: every member on the shared ``input``, the mean of their ``logits``."""
    members = [onnx.load(str(p)) for p in paths]
    opsets = {m.opset_import[0].version for m in members}
    if len(opsets) != 1:
        raise SystemExit(f"members use different opsets {sorted(opsets)}; export them with the same one")
    nodes, initializers, outputs = [], [], []
    for i, member in enumerate(members):
        if [x.name for x in member.graph.input] != ["input"] or [x.name for x in member.graph.output] != ["logits"]:
            raise SystemExit(f"{paths[i]}: expected one input 'input' and one output 'logits' (a train_fer.py export)")
        prefixed = compose.add_prefix(member, prefix=f"m{i}_")
        graph = prefixed.graph
        nodes.append(helper.make_node("Identity", ["input"], [f"m{i}_input"], name=f"m{i}_feed"))
        nodes.extend(graph.node)
        initializers.extend(graph.initializer)
        outputs.append(f"m{i}_logits")
    nodes.append(helper.make_node("Sum", outputs, ["logit_sum"], name="sum_members"))
    scale = helper.make_tensor("inv_members", onnx.TensorProto.FLOAT, [], [1.0 / len(members)])
    initializers.append(scale)
    nodes.append(helper.make_node("Mul", ["logit_sum", "inv_members"], ["logits"], name="mean_members"))
    graph = helper.make_graph(
        nodes, "emodesk_fer_ensemble", list(members[0].graph.input), list(members[0].graph.output), initializers
    )
    merged = helper.make_model(graph, opset_imports=list(members[0].opset_import), producer_name="emodesk ensemble.py")
    merged.ir_version = members[0].ir_version
    onnx.checker.check_model(merged)
    return merged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("members", type=Path, nargs="+", help="ONNX files written by train_fer.py")
    ap.add_argument("--data", type=Path, required=True, help="folder with val/ (FER2013 layout)")
    ap.add_argument("--out", type=Path, required=True, help="merged ONNX file; its record goes beside it (.train.json)")
    args = ap.parse_args()
    if len(args.members) < 2:
        raise SystemExit("an ensemble needs at least two members")

    val_imgs, val_y, _ = recipe.read_split(args.data / "val")
    x_val = recipe.preprocess(val_imgs)
    member_records = []
    for path in args.members:
        pred = recipe.onnx_logits(path, x_val).argmax(1)
        member_records.append(
            {
                "file": path.name,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "val_accuracy": float(np.mean(pred == val_y)),
                "val_balanced_accuracy": recipe.macro_recall(val_y, pred, len(recipe.LABELS)),
            }
        )
        print(json.dumps(member_records[-1]), flush=True)

    merged = merge(args.members)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(merged, str(args.out))
    pred = recipe.onnx_logits(args.out, x_val).argmax(1)
    record = {
        "model_id": recipe.MODEL_ID,
        "file": args.out.name,
        "sha256": hashlib.sha256(args.out.read_bytes()).hexdigest(),
        "size": args.out.stat().st_size,
        "val_accuracy": float(np.mean(pred == val_y)),
        "val_balanced_accuracy": recipe.macro_recall(val_y, pred, len(recipe.LABELS)),
        "members": member_records,
        "params": sum(int(np.prod(t.dims)) for t in merged.graph.initializer),
        "onnx": onnx.__version__,
        "python": platform.python_version(),
        "command": "python " + " ".join(sys.argv),
    }
    args.out.with_suffix(".train.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=1), flush=True)


if __name__ == "__main__":
    main()
