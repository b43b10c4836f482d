"""gpudf.sweep(..., comm=MPI.COMM_WORLD): one sweep over the ranks of an MPI
job, through libgpudf_mpi (docs/mpi.md, "More than one machine").

Loaded only when a sweep is given a communicator: the package itself never
needs MPI. The communicator crosses into C by its Fortran handle
(comm.py2f(), an int in every MPI library, turned back by MPI_Comm_f2c in
gpudf_mpi_sweep_fcomm): MPI_Comm itself is a pointer in Open MPI and an int
in MPICH, which cffi's ABI mode could not be told without a compiler.

libgpudf_mpi.so and gpudf_mpi.h are looked for next to libgpudf.so and
gpudf.h (a build tree, the installed package), or where GPUDF_MPI_LIBRARY and
GPUDF_MPI_HEADER say. The declarations are parsed from the headers (as
_ffi.py does): gpudf.h's and gpudf_mpi.h's, less the two prototypes that
name MPI types (MPI_Comm, MPI_Request).
"""
import os
import re
from pathlib import Path

import numpy as np

from . import _ffi_build
from ._ffi import HEADER, LIBRARY, ffi, lib

_loaded = {}


def _load():
    """(mffi, mlib): libgpudf_mpi's declarations and the library, once."""
    if "lib" in _loaded:
        return _loaded["ffi"], _loaded["lib"]
    from . import Error
    header = Path(os.environ.get("GPUDF_MPI_HEADER") or HEADER.parent / "gpudf_mpi.h")
    library = Path(os.environ.get("GPUDF_MPI_LIBRARY") or Path(LIBRARY).parent / "libgpudf_mpi.so")
    for what, path in (("libgpudf_mpi.so", library), ("gpudf_mpi.h", header)):
        if not path.exists():
            raise Error(lib.GPUDF_ENOENT,
                        f"sweep(comm=...): no {what} at {path}: libgpudf was built without MPI "
                        f"(build it where CMake finds MPI, docs/mpi.md), or set "
                        f"{'GPUDF_MPI_LIBRARY' if path is library else 'GPUDF_MPI_HEADER'}")
    from cffi import FFI
    mffi = FFI()
    text = header.read_text(encoding="utf-8")
    text = re.sub(r"gpudf_status\s+gpudf_mpi_sweep\s*\(\s*MPI_Comm\b.*?\);", "", text, flags=re.S)
    text = re.sub(r"void\s+gpudf_mpi_wait\s*\(\s*MPI_Request\b.*?\);", "", text, flags=re.S)
    text = text.replace("MPI_Fint", "int")
    mffi.cdef(_ffi_build.cdef_source(HEADER.read_text(encoding="utf-8")) + "\n"
              + _ffi_build.cdef_source(text))
    # libgpudf is loaded already (by _ffi.py): libgpudf_mpi's dependency on
    # it resolves to that copy, so both see one registry and one last error.
    mlib = mffi.dlopen(str(library))
    _loaded.update(ffi=mffi, lib=mlib)
    return mffi, mlib


def _as(mffi, ctype, cdata):
    """A pointer of the package's ffi as the same pointer of mffi."""
    if cdata == ffi.NULL:
        return mffi.NULL
    return mffi.cast(ctype, int(ffi.cast("uintptr_t", cdata)))


def _report(mffi, mlib, res):
    rep = mffi.new("gpudf_mpi_report *")
    mlib.gpudf_mpi_result_report(res, rep)
    ranks, nodes = [], []
    info = mffi.new("gpudf_mpi_rank_info *")
    for r in range(rep.ranks):
        mlib.gpudf_mpi_result_rank(res, r, info)
        ranks.append({"rank": info.rank, "node": info.node, "leader": bool(info.leader),
                      "share": mffi.string(info.share).decode(errors="replace"),
                      "configs": info.configs, "claims": info.claims,
                      "busy_s": info.busy_s, "wall_s": info.wall_s,
                      "split_rows": info.split_rows})
    node = mffi.new("gpudf_mpi_node_info *")
    for i in range(rep.nodes):
        mlib.gpudf_mpi_result_node(res, i, node)
        nodes.append({"node": node.node, "ranks": node.ranks, "leader_rank": node.leader_rank,
                      "share": mffi.string(node.share).decode(errors="replace"),
                      "configs": node.configs, "busy_s": node.busy_s})
    return {"total": rep.total, "done": rep.done, "failed": rep.failed,
            "cancelled": rep.cancelled, "ranks": rep.ranks, "nodes": rep.nodes,
            "claim": rep.claim, "claims": rep.claims, "table_s": rep.table_s,
            "wall_s": rep.wall_s, "per_rank": ranks, "per_node": nodes}


def sweep(table, kernel, configs, comm, workers, backend, progress, timeout, batch, retries,
          plugins, series, time=None):
    """gpudf.sweep with comm= (see its docstring and docs/mpi.md): collective,
    rank 0's table, kernel, configs and options hold; the DataFrame on rank 0,
    None on the other ranks. Every rank raises the same Error when the sweep
    fails, whichever rank it failed on."""
    from . import (Error, Table, _BACKENDS, _check, _config_matrix, _kernel, _result_index,
                   _series_column, _series_summary, _set_sweep_options, _sweep_frame,
                   _table_arg, load_plugin)
    mffi, mlib = _load()
    try:
        handle = comm.py2f()
        rank = comm.Get_rank()
    except AttributeError:
        raise TypeError(f"sweep(comm=...) takes an mpi4py communicator (MPI.COMM_WORLD), got "
                        f"{type(comm).__name__}") from None
    for path in plugins:  # on every rank: each loads its own
        load_plugin(path)
    opts = mffi.new("gpudf_sweep_options *")
    mlib.gpudf_sweep_options_init(opts)
    # Each rank's own plugin paths, for its worker processes.
    paths = [mffi.new("char[]", os.fsencode(p)) for p in plugins]
    plugin_array = mffi.new("const char *[]", paths) if paths else mffi.NULL
    opts.nplugins, opts.plugins = len(paths), plugin_array
    out = mffi.new("gpudf_mpi_result **")
    if rank != 0:
        # Rank 0 says what runs; the table comes from it as well.
        status = mlib.gpudf_mpi_sweep_fcomm(handle, mffi.NULL, mffi.NULL, mffi.NULL, mffi.NULL,
                                            0, mffi.NULL, opts, out)
        if status not in (lib.GPUDF_OK, lib.GPUDF_ECANCELED):
            _check(status)
        return None

    # Rank 0. What is wrong here is raised here after the collective call
    # has failed on every rank (a NULL kernel fails it at once), so that no
    # rank is left waiting.
    held, problem = None, None
    try:
        if progress is not None:
            raise Error(lib.GPUDF_EINVAL, "sweep(comm=...): progress= is not reported across "
                        "ranks; leave it out")
        table = _table_arg(table, "sweep")
        if backend not in _BACKENDS:
            raise Error(lib.GPUDF_EINVAL, f"unknown backend {backend!r}")
        k = _kernel(kernel)
        # Series as in one process: each config on every series, row
        # k * S + q config k on series q (docs/sweep.md, docs/mpi.md).
        scol, tcol, nseries = _series_column(table, k, series), -1, 1
        if time is not None:
            if scol < 0:
                raise Error(lib.GPUDF_EINVAL, f"time={time!r} orders the rows within each "
                            f"series: it needs series=COL")
            tcol = table._index(time)
        expand = scol >= 0 and lib.gpudf_kernel_row_order(k)
        if expand:
            count = mffi.new("int64_t *")
            _check(lib.gpudf_sweep_series_check(table._live(), scol, tcol, count))
            nseries = count[0]
        matrix, frame = _config_matrix(table, k, configs)
        n = len(matrix)
        names = _result_index(k, matrix[0] if n else None)
        results = np.full((n * nseries, len(names)), np.nan)
        opts.series, opts.time = scol, tcol
        _set_sweep_options(opts, workers, backend, timeout, batch, retries)
        # As gpudf.sweep: a Table with numpy arrays over its memory is shared
        # here without its derived columns (gpudf_mpi_sweep then shares a copy).
        if (isinstance(table, Table) and table._exported()
                and not any(x._ptr is not None for x in table._shares)):
            held = table.share(backend=backend)
    except BaseException as e:  # noqa: B902 - re-raised below, after the collective call
        problem = e
    try:
        if problem is not None:
            mlib.gpudf_mpi_sweep_fcomm(handle, mffi.NULL, mffi.NULL, mffi.NULL, mffi.NULL, 0,
                                       mffi.NULL, mffi.NULL, out)
            raise problem
        status = mlib.gpudf_mpi_sweep_fcomm(
            handle, _as(mffi, "gpudf_table *", table._live()), mffi.NULL,
            _as(mffi, "const gpudf_kernel *", k),
            mffi.cast("const double *", mffi.from_buffer(matrix)), n,
            mffi.cast("double *", mffi.from_buffer(results)), opts, out)
    finally:
        if held is not None:
            held.close()
    if status not in (lib.GPUDF_OK, lib.GPUDF_ECANCELED):
        _check(status)
    res = mffi.gc(out[0], mlib.gpudf_mpi_result_free)
    summary = None
    if expand:
        frame = frame.loc[frame.index.repeat(nseries)].reset_index(drop=True)
        frame.insert(0, "series", [mffi.string(mlib.gpudf_mpi_result_series(res, i))
                                   .decode(errors="replace") for i in range(len(results))])
        summary = _series_summary(frame, res, results, names, nseries,
                                  mlib.gpudf_mpi_result_series_summary, mffi)
    frame = _sweep_frame(kernel, frame, names, results, res,
                         state=mlib.gpudf_mpi_result_state,
                         reason=lambda r, i: mffi.string(mlib.gpudf_mpi_result_reason(r, i))
                         .decode(errors="replace"))
    if summary is not None:
        frame.attrs["summary"] = summary
    frame.attrs["report"] = _report(mffi, mlib, res)
    return frame
