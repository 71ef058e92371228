import pytest

import edgematte
from fresh_python import heavy_modules_after
from edgematte.errors import BackendUnavailableError, EdgematteError, InputError


def test_import_pulls_no_heavy_modules(tmp_path):
    assert heavy_modules_after("import edgematte", tmp_path) == []


def test_error_hierarchy():
    assert issubclass(InputError, ValueError) and issubclass(InputError, EdgematteError)
    assert issubclass(BackendUnavailableError, ImportError)


def test_version_is_exposed():
    assert edgematte.__version__.count(".") == 2


def test_cli_without_command_is_usage_error():
    from edgematte.cli.__main__ import main

    assert main([]) == 2


def test_cli_version():
    with pytest.raises(SystemExit) as info:
        from edgematte.cli.__main__ import main

        main(["--version"])
    assert info.value.code == 0
