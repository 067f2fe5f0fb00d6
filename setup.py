"""pip install of the Python package `safetensors` (docs/PYTHON.md), offline, from Debian packages:

    python3 -m venv --system-site-packages V && V/bin/pip install --no-build-isolation --no-index --no-deps .

CMake builds what the package needs (core + torch layer, static, and the pybind11 extension) for
the interpreter running pip; nothing else of the project (no model, server, CLI, tests or
benchmarks). The version is the project's (CMakeLists.txt), the same as the C++ library's.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        return re.search(r"project\(safetensors_cpp VERSION ([0-9.]+)", f.read()).group(1)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = os.path.abspath(os.path.join(self.build_temp, "cmake"))
        configure = ["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                     "-DBUILD_SHARED_LIBS=OFF", "-DSAFETENSORS_BUILD_PYTHON=ON",
                     f"-DSAFETENSORS_PYTHON={sys.executable}",
                     "-DSAFETENSORS_BUILD_MODEL=OFF", "-DSAFETENSORS_BUILD_SERVER=OFF",
                     "-DSAFETENSORS_BUILD_CLI=OFF", "-DSAFETENSORS_TESTS=OFF",
                     "-DSAFETENSORS_BENCH=OFF", "-DSAFETENSORS_INSTALL=OFF"]
        if shutil.which("ninja") and not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
            configure += ["-G", "Ninja"]
        subprocess.run(configure, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        subprocess.run(["cmake", "--build", build_dir, "--target", "safetensors_python", "--parallel", jobs],
                       check=True)
        built = glob.glob(os.path.join(build_dir, "python", "safetensors", "_safetensors_cpp*.so"))
        if len(built) != 1:
            raise RuntimeError(f"expected one built extension module, found {built}")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built[0], target)


setup(
    name="safetensors",
    version=project_version(),
    description="safetensors (upstream Python API) on the safetensors-cpp core",
    python_requires=">=3.9",
    packages=["safetensors"],
    package_dir={"": "python"},
    ext_modules=[Extension("safetensors._safetensors_cpp", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": os.path.join("build", "pip")}},
    zip_safe=False,
)
