"""``sem-task``: list, build, verify and show SISM evaluation tasks (paper Sec. 3 samples, Sec. 4.1 protocols).

    sem-task list [--json]
    sem-task build PROTOCOL DATA_ROOT --out TASK_DIR      (custom: --labels, --min-area, --resolution, ...)
    sem-task verify TASK_DIR [--data DATA_ROOT]
    sem-task show TASK_DIR [--json]

Exit status: 0 ok; 1 ``verify`` found a problem; 2 bad usage or bad input (one ``error: ...`` line on
stderr, no task written); 130 interrupted (no task written).
"""
from __future__ import annotations

import json
import sys

import click

from ..command import Group
from .build import build_task
from .load import format_show, load_task, verify_task
from .protocols import custom_protocol, get_protocol, list_protocols

EXIT_OK, EXIT_VERIFY_FAILED = 0, 1


class _Group(Group):
    """sem-task: the package's command conventions (:mod:`sem_metric.command`)."""

    prog = "sem-task"
    interrupted_note = "no task directory was written"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Build, version and verify SISM evaluation tasks, so that two papers' numbers compare.

    \b
    A protocol fixes which objects are removed from which maps (classes, resolution, box rule,
    selection, seed); a task directory holds gt/, incomplete/ (S^u, the model's input), boxes.json and
    task.json (every parameter, hashes, the task digest, the scores of S^u). Score predictions with
    `sem-score PRED_DIR --task TASK_DIR`.
    """


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with every parameter of each protocol.")
def list_cmd(as_json: bool) -> None:
    """Print the registered protocols. Each is one Sec. 4.1 evaluation set, named and versioned."""
    protocols = list_protocols()
    if as_json:
        click.echo(json.dumps([p.describe() for p in protocols], indent=1))
        return
    for p in protocols:
        res = p.resolution if isinstance(p.resolution, str) else "x".join(map(str, p.resolution))
        click.echo(f"{p.key:<28} {res:<8} {p.selection:<14} {p.description}")
    click.echo(f"{'custom':<28} {'any':<8} {'any':<14} any folder of label maps: --labels, --min-area, "
               "--resolution, --instances")


def _progress(quiet: bool, force: bool):
    """Progress lines on stderr when it is a terminal (or with --progress), never with --quiet."""
    if quiet or not (force or sys.stderr.isatty()):
        return None
    state = {"next": 0}

    def progress(done: int, total: int) -> None:
        if done >= state["next"] or done == total:
            click.echo(f"sem-task: {done}/{total} maps", err=True)
            state["next"] = done + max(1, total // 10)
    return progress


@main.command("build")
@click.argument("protocol")
@click.argument("data_root")
@click.option("--out", required=True, metavar="TASK_DIR", help="The task directory to write (new, empty, or an "
                                                                "earlier task of the same protocol).")
@click.option("--labels", metavar="IDS", help="custom: target class ids, comma-separated (e.g. 8,9,10).")
@click.option("--min-area", default="0", show_default=True, metavar="F",
              help="custom: minimum object area, as a fraction of the map (0.01 = 1%).")
@click.option("--min-box-area", default="0", show_default=True, metavar="F",
              help="custom: minimum tight-box area, as a fraction of the map.")
@click.option("--resolution", default="native", show_default=True, metavar="native|HxW",
              help="custom: working resolution (nearest-neighbour resizing), e.g. 128x256.")
@click.option("--instances", "instances_dir", metavar="DIR", help="custom: instance maps at the same relative "
                                                                  "paths (else objects are connected components).")
@click.option("--one-per-image", is_flag=True, help="custom: keep one object per map, drawn with --seed.")
@click.option("--seed", default=0, show_default=True, type=int, help="custom: seed of --one-per-image.")
@click.option("--connectivity", default=8, show_default=True, type=click.Choice(["4", "8"]),
              help="custom: connectivity of the connected components.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the first N maps (smoke tests; "
                                                                        "recorded in task.json).")
@click.option("--null-sem", is_flag=True, help="Also score S^u with Sem (loads the shape classifier; recorded "
                                              "with the weights' sha256 in task.json null_model).")
@click.option("--weights", metavar="REF", help="Sem weights for --null-sem (shipped name or .safetensors path).")
@click.option("--threads", type=click.IntRange(min=1), metavar="N", help="CPU threads of the classifier (--null-sem).")
@click.option("--allow-other-split", is_flag=True, help="Cityscapes: accept maps of cities outside the protocol's "
                                                             "split (recorded in task.json).")
@click.option("--progress", "force_progress", is_flag=True, help="Progress lines on stderr even when it is not a "
                                                                  "terminal.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
def build_cmd(protocol, data_root, out, labels, min_area, min_box_area, resolution, instances_dir, one_per_image,
              seed, connectivity, limit, null_sem, weights, threads, allow_other_split, force_progress, quiet) -> None:
    """Build the task of PROTOCOL (NAME, NAME@VERSION or custom) from the data under DATA_ROOT.

    One sample (Sec. 3) per object the protocol keeps: gt/, incomplete/ (S^u), boxes.json, task.json.
    """
    custom_given = [o for o, v in (("--labels", labels), ("--instances", instances_dir),
                                   ("--one-per-image", one_per_image or None)) if v is not None]
    custom_given += [o for o, v, d in (("--min-area", min_area, "0"), ("--min-box-area", min_box_area, "0"),
                                       ("--resolution", resolution, "native"), ("--seed", seed, 0),
                                       ("--connectivity", connectivity, "8")) if v != d]
    if protocol == "custom":
        p = custom_protocol(labels, resolution, min_area, min_box_area, instances_dir,
                            "one-per-image" if one_per_image else "all", seed, int(connectivity))
    else:
        p = get_protocol(protocol)
        if custom_given:
            raise click.UsageError(f"{', '.join(custom_given)} only apply to the custom protocol; a registered "
                                   f"protocol ({p.key}) is fixed")
    if (weights or threads) and not null_sem:
        raise click.UsageError("--weights and --threads only apply with --null-sem")
    if allow_other_split and p.fmt != "cityscapes":
        raise click.UsageError(f"--allow-other-split only applies to Cityscapes protocols; {p.key} selects its split "
                               "by its folder layout")
    if threads:
        import torch

        torch.set_num_threads(threads)
    build_task(p, data_root, out, progress=_progress(quiet, force_progress), limit=limit, null_sem=null_sem,
               weights=weights, allow_other_split=allow_other_split)
    if not quiet:
        click.echo(format_show(load_task(out)), nl=False)


@main.command("verify")
@click.argument("task_dir")
@click.option("--data", "data_root", metavar="DATA_ROOT", help="Also rebuild the task from this data and compare.")
@click.option("--instances", "instances_dir", metavar="DIR", help="custom tasks built with --instances: that folder.")
@click.pass_context
def verify_cmd(ctx, task_dir, data_root, instances_dir) -> None:
    """Re-hash TASK_DIR and, with --data, rebuild it and compare.

    Checks every file's sha256, the task digest and every S^u (Sec. 3); exit 1 when anything differs.
    """
    report = verify_task(task_dir, data_root, instances_dir)
    if report["ok"]:
        how = " and rebuilt from the data" if data_root else ""
        click.echo(f"ok: {task_dir} is protocol {report['protocol']}, digest {report['digest']} (re-hashed{how})")
        return
    click.echo(f"error: {task_dir} does not verify as protocol {report['protocol']}: " + "; ".join(report["problems"]),
               err=True)
    ctx.exit(EXIT_VERIFY_FAILED)


@main.command("show")
@click.argument("task_dir")
@click.option("--json", "as_json", is_flag=True, help="Print protocol, digest, counts and null-model scores as JSON.")
def show_cmd(task_dir, as_json: bool) -> None:
    """Print the protocol, the digest, the counts per class and the scores of S^u of TASK_DIR.

    S^u (Sec. 3) is the null model: the box filled with the target class, scored with the Sec. 4.1 metrics.
    """
    task = load_task(task_dir)
    if as_json:
        m = task.meta
        click.echo(json.dumps({k: m[k] for k in ("protocol", "digest", "digest_version", "counts", "null_model",
                                                 "package_version")}, indent=1, sort_keys=True))
        return
    click.echo(format_show(task), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
