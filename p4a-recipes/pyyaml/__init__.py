"""PyYAML for the APK: python-escpos imports `yaml` unconditionally (escpos/capabilities.py) and PyPI has no
PyYAML wheel for Android, so pip cannot be trusted with it. PyYAML builds its optional libyaml C extension only
when asked; PYYAML_FORCE_LIBYAML=0 keeps it off, and `yaml` then runs in pure Python (its documented fallback)."""
from pythonforandroid.recipe import PythonRecipe


class PyYamlRecipe(PythonRecipe):
    name = "pyyaml"
    version = "6.0.2"
    url = "https://files.pythonhosted.org/packages/source/p/pyyaml/pyyaml-{version}.tar.gz"
    depends = ["setuptools"]
    site_packages_name = "yaml"
    call_hostpython_via_targetpython = False
    setup_extra_args = ["--no-deps"]

    def get_recipe_env(self, arch=None, with_flags_in_cc=True):
        env = super().get_recipe_env(arch, with_flags_in_cc)
        env["PYYAML_FORCE_LIBYAML"] = "0"
        return env


recipe = PyYamlRecipe()
