"""Build the native parts of falco on `pip install`.

The Cython engine (engine/*.pyx -> falco_engine.*) includes the generated
event-table header from driver/, so the decoder and the drivers read the
same table.  Set FALCO_ANNOTATE=1 to get Cython's HTML annotation.
"""
import os
import shutil
import subprocess
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext
from setuptools.command.build_py import build_py as _build_py

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER_DIR = "driver"


class build_py(_build_py):
    """Ship the default rules (rules/*.yaml) inside the package, as
    falco/data/rules, so an installed falco finds them without flags."""

    def run(self):
        super().run()
        if self.editable_mode:
            return                      # an editable install reads rules/
        dest = os.path.join(self.build_lib, "falco", "data", "rules")
        os.makedirs(dest, exist_ok=True)
        for src in sorted(glob(os.path.join(HERE, "rules", "*.yaml"))):
            shutil.copy2(src, dest)


class build_ext(_build_ext):
    """Cythonize at build time so a source checkout needs no generated C."""

    def finalize_options(self):
        from Cython.Build import cythonize

        self.distribution.ext_modules = cythonize(
            self.distribution.ext_modules,
            include_path=[cython_include_dir()],
            language_level=3,
            annotate=bool(os.environ.get("FALCO_ANNOTATE")),
            compiler_directives={
                "boundscheck": False,
                "wraparound": False,
                "cdivision": True,
                "initializedcheck": False,
            },
        )
        super().finalize_options()

    def run(self):
        super().run()
        self.build_bpf_probe()

    def build_bpf_probe(self):
        """Build the CO-RE eBPF probe into the package's data directory.

        It needs clang, bpftool, libbpf headers and the build host's BTF
        (/sys/kernel/btf/vmlinux, for vmlinux.h).  Without them the package
        still installs: live capture then reports the probe as missing and
        `falco run` falls back to replaying a capture.
        """
        missing = [t for t in ("clang", "bpftool", "llvm-strip", "make")
                   if shutil.which(t) is None]
        if not os.path.exists("/sys/kernel/btf/vmlinux"):
            missing.append("/sys/kernel/btf/vmlinux")
        if not os.path.exists("/usr/include/bpf/bpf_helpers.h"):
            missing.append("libbpf-dev")
        if missing:
            print("warning: not building the eBPF probe (missing: "
                  + ", ".join(missing) + ")")
            return
        root = "" if self.inplace else self.build_lib
        target = os.path.abspath(os.path.join(root, "falco", "data", "falco.bpf.o"))
        subprocess.run(["make", "-s", "-C", os.path.join(HERE, "driver", "bpf"),
                        "TARGET=" + target], check=True)


def cython_include_dir():
    """The engine lives in engine/ but is the package falco_engine: give
    Cython a falco_engine/ path (a symlink) so `cimport falco_engine.x`
    finds engine/x.pxd."""
    inc = os.path.join(HERE, "build", "cython-include")
    link = os.path.join(inc, "falco_engine")
    os.makedirs(inc, exist_ok=True)
    if not os.path.islink(link):
        os.symlink(os.path.join(HERE, "engine"), link)
    return inc


# The state engine's parsers read parameters through small `cdef inline`
# helpers called from hundreds of places; GCC's default limits keep most of
# them as calls (ev_int, ev_uint, evp: about a tenth of state's instructions
# on the looped capture).  Let it inline them there.
EXTRA_CFLAGS = {
    "state": ("--param=max-inline-insns-single=400",
              "--param=inline-unit-growth=300",
              "--param=large-function-growth=1000",
              "--param=max-inline-insns-auto=60"),
}


def engine_extensions():
    exts = []
    for pyx in sorted(glob(os.path.join("engine", "*.pyx"))):
        mod = os.path.splitext(os.path.basename(pyx))[0]
        exts.append(
            Extension(
                "falco_engine." + mod,
                [pyx],
                include_dirs=[DRIVER_DIR, "engine"],
                extra_compile_args=["-O2", "-Wno-unused-function",
                                    *EXTRA_CFLAGS.get(mod, ())],
            )
        )
    return exts


setup(
    packages=["falco", "falco_engine"]
    + ["falco." + p for p in sorted(os.listdir("falco"))
       if os.path.isfile(os.path.join("falco", p, "__init__.py"))],
    package_dir={"falco_engine": "engine", "falco": "falco"},
    package_data={
        "falco": ["data/*", "data/**/*"],
        "falco_engine": ["*.pyi", "*.pxd", "py.typed"],
    },
    ext_modules=engine_extensions(),
    cmdclass={"build_ext": build_ext, "build_py": build_py},
)
