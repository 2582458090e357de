"""zeroconf for the APK (buildozer.spec: p4a.local_recipes = ./p4a-recipes, which p4a searches before its own).

python-for-android's own recipe is zeroconf 0.24.5 (2019) and a recipe wins over pip: its ServiceBrowser takes one
type string and its ServiceInfo has no parsed_scoped_addresses(), so printer discovery and enrollment would fail
on the device. This builds the version pyproject.toml asks for, in pure Python: zeroconf's build script skips its
optional Cython speed-ups when SKIP_CYTHON is set. ifaddr comes from p4a's recipe (patched for Android).
"""
from pythonforandroid.recipe import PythonRecipe


class ZeroconfRecipe(PythonRecipe):
    name = "zeroconf"
    version = "0.154.0"
    url = "https://files.pythonhosted.org/packages/source/z/zeroconf/zeroconf-{version}.tar.gz"
    depends = ["setuptools", "ifaddr"]
    site_packages_name = "zeroconf"
    call_hostpython_via_targetpython = False
    setup_extra_args = ["--no-deps"]          # ifaddr is the recipe above, not a second copy from PyPI

    def get_recipe_env(self, arch=None, with_flags_in_cc=True):
        env = super().get_recipe_env(arch, with_flags_in_cc)
        env["SKIP_CYTHON"] = "1"
        return env


recipe = ZeroconfRecipe()
