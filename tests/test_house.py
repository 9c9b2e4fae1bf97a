"""The house rules, read off the source: imports point down, tests and benchmarks stay apart, and no
module or function outgrows what a reader takes in."""
import ast
import glob
import os

from conftest import ROOT

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
STANDS_ALONE = {'download_celebA.py'}    # the user's layout keeps the downloader one file


def sources(*patterns):
    return sorted(path for pattern in patterns for path in glob.glob(os.path.join(ROOT, pattern)))


def imported_names(path):
    tree = ast.parse(open(path).read())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or '' for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    names |= {'{}.{}'.format(node.module, alias.name) for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module for alias in node.names}
    return names


def test_no_module_is_over_500_lines_and_no_function_over_60():
    too_long = []
    for path in sources('*.py', 'datasets/*.py', 'benchmarks/*.py', 'tests/*.py'):
        if os.path.basename(path) in STANDS_ALONE:
            continue
        text = open(path).read()
        if text.count('\n') > MAX_MODULE_LINES:
            too_long.append('{}: {} lines'.format(os.path.relpath(path, ROOT), text.count('\n')))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = max(getattr(child, 'lineno', node.lineno) for child in ast.walk(node)) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append('{}:{} {}(): {} lines'.format(os.path.relpath(path, ROOT), node.lineno,
                                                                  node.name, length))
    assert not too_long, too_long


def test_the_library_imports_neither_the_entry_point_nor_the_benchmarks_nor_the_tests():
    tests = {os.path.splitext(os.path.basename(p))[0] for p in sources('tests/*.py')}
    for path in sources('*.py', 'datasets/*.py'):
        if os.path.basename(path) == 'vae.py':
            continue
        names = imported_names(path)
        assert not names & ({'vae', 'benchmarks'} | tests), (path, names & ({'vae', 'benchmarks'} | tests))


def test_settings_and_data_import_no_model():
    data_modules = ['imagefiles.py', 'data.py'] + [os.path.relpath(p, ROOT) for p in sources('datasets/*.py')]
    for name in ['common.py', 'config.py', 'settings.py'] + data_modules:
        names = imported_names(os.path.join(ROOT, name))
        assert not names & {'model', 'objectives', 'training', 'checkpoints', 'inference', 'evaluate', 'vae'}, name
    for name in data_modules:   # the pipelines read the settings as plain attributes
        assert 'settings' not in imported_names(os.path.join(ROOT, name)), name


def test_tests_and_benchmarks_do_not_import_each_other_and_nothing_edits_sys_path():
    tests = {os.path.splitext(os.path.basename(p))[0] for p in sources('tests/*.py')}
    for path in sources('benchmarks/*.py'):
        names = imported_names(path)
        assert not names & tests, (path, names & tests)
        assert 'sys.path' not in open(path).read(), path
    for path in sources('tests/*.py'):
        assert not any(name == 'benchmarks' or name.startswith('benchmarks.') for name in imported_names(path)), path
