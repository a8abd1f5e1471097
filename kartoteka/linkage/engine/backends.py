"""Where the comparisons run, set up so that no plaintext reaches a disk.

DuckDB: an in-memory database with spilling switched off (``temp_directory`` empty, a zero temp size),
no external file access, and the configuration locked so nothing later in the run can turn them back on. A
run that does not fit in memory fails with DuckDB's out-of-memory error instead of spilling.

Spark (local mode): every directory Spark or the JVM may write to (``spark.local.dir``, the warehouse,
``java.io.tmpdir``, PySpark's own temp dir) lies in one private 0700 directory that is removed when the run
ends, and ``spark.io.encryption.enabled`` encrypts whatever Spark spills or shuffles there under a key that
lives only in the JVM's memory; the UI and event log are off. Residual risk (docs/linkage.md): a crash
(kill -9, power loss) leaves the private directory behind; its block files are encrypted, but the JVM's
own crash files (hs_err) and core dumps are not: run with core dumps disabled.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

DUCKDB_SETTINGS = (
    "SET temp_directory = ''",
    "SET max_temp_directory_size = '0KiB'",
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
)


def duckdb_connection(*, threads: int | None = None, memory_limit: str | None = None) -> Any:
    """An in-memory DuckDB that cannot spill, read or write files; its configuration locked."""
    con = duckdb.connect(":memory:")
    for statement in DUCKDB_SETTINGS:
        con.execute(statement)
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = '{memory_limit.replace(chr(39), '')}'")
    con.execute("SET lock_configuration = true")
    return con


def duckdb_settings(con: Any) -> dict[str, str]:
    """The spill-related settings as DuckDB reports them (the tests read these back)."""
    names = ("temp_directory", "max_temp_directory_size", "enable_external_access", "lock_configuration")
    return {n: str(con.execute(f"SELECT current_setting('{n}')").fetchone()[0]) for n in names}


def java_available() -> bool:
    return shutil.which("java") is not None


@contextlib.contextmanager
def private_dir(prefix: str = "kartoteka-spark-") -> Iterator[Path]:
    """A fresh 0700 directory under TMPDIR, removed (with everything in it) on exit."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, stat.S_IRWXU)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


_JVM_SCRATCH: list[Path] = []


def _jvm_scratch() -> Path:
    """The JVM's java.io.tmpdir: started once per process (later sessions reuse the JVM), so it lives as
    long as the process and is removed at exit."""
    if not _JVM_SCRATCH:
        path = Path(tempfile.mkdtemp(prefix="kartoteka-jvm-"))
        os.chmod(path, stat.S_IRWXU)
        atexit.register(shutil.rmtree, path, True)
        _JVM_SCRATCH.append(path)
    return _JVM_SCRATCH[0]


@contextlib.contextmanager
def spark_session(*, cores: int = 2, memory: str = "2g") -> Iterator[Any]:
    """A local-mode Spark session whose scratch space is one private directory removed afterwards."""
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    java_tmp = _jvm_scratch()
    with private_dir() as scratch:
        local, warehouse = scratch / "local", scratch / "warehouse"
        for d in (local, warehouse):
            d.mkdir(mode=0o700)
        java_opts = (
            f"-Djava.io.tmpdir={java_tmp} -XX:-CreateCoredumpOnCrash -XX:ErrorFile={java_tmp}/hs_err.log"
        )
        builder = (
            SparkSession.builder.master(f"local[{cores}]")
            .appName("kartoteka-linkage")
            .config("spark.driver.memory", memory)
            .config("spark.local.dir", str(local))
            .config("spark.sql.warehouse.dir", str(warehouse))
            .config("spark.driver.extraJavaOptions", java_opts)
            .config("spark.io.encryption.enabled", "true")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.eventLog.enabled", "false")
            .config("spark.sql.shuffle.partitions", str(max(4, cores * 4)))
            .config("spark.default.parallelism", str(max(4, cores * 4)))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.jars", similarity_jar_location())
        )
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()
