"""The house rules, read off the source: imports point down, tests and benchmarks stay apart, and no
module or function outgrows what a reader takes in."""
import ast
import glob
import os
import re

from conftest import ROOT

MAX_MODULE_LINES = 500
MAX_STUDIES_LINES = 300     # the study's library: one small module per job
MAX_BENCHMARKS_LINES = 1400   # all of benchmarks/: measurements, not a second test suite
MAX_FUNCTION_LINES = 60


def sources(*patterns):
    return sorted(path for pattern in patterns for path in glob.glob(os.path.join(ROOT, pattern)))


def imported_names(path):
    """Every module name imported anywhere in `path`, function bodies included: `import a.b`, and `from a
    import b` as a and a.b (b may be a module)."""
    tree = ast.parse(open(path).read())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or '' for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    names |= {'{}.{}'.format(node.module, alias.name) for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module for alias in node.names}
    return names


def test_the_benchmarks_measure_and_stay_small():
    total = sum(open(path).read().count('\n') for path in sources('benchmarks/*.py'))
    assert total < MAX_BENCHMARKS_LINES, total


def test_no_module_is_over_500_lines_and_no_function_over_60():
    too_long = []
    for path in sources('*.py', '*/*.py'):
        text = open(path).read()
        limit = MAX_STUDIES_LINES if os.path.relpath(path, ROOT).startswith('studies' + os.sep) else MAX_MODULE_LINES
        if text.count('\n') > limit:
            too_long.append('{}: {} lines'.format(os.path.relpath(path, ROOT), text.count('\n')))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = max(getattr(child, 'lineno', node.lineno) for child in ast.walk(node)) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append('{}:{} {}(): {} lines'.format(os.path.relpath(path, ROOT), node.lineno,
                                                                  node.name, length))
    assert not too_long, too_long


# ---- the design guide's layers ----

def design_rows():
    """[(row number, [file patterns])] of the module table in docs/design.md, top row first."""
    rows, in_table = [], False
    for line in open(os.path.join(ROOT, 'docs', 'design.md')):
        if line.startswith('| layer | file | job |'):
            in_table = True
        elif in_table and not line.startswith('|'):
            break
        elif in_table and not line.startswith('| ---'):
            cells = line.split('|')
            rows.append((len(rows), re.findall(r'`([^`]+)`', cells[2])))
    return rows


def module_of(pattern):
    """A table entry's module name: `data.py` -> data, `datasets/pairs.py` -> datasets.pairs, `kit/` -> kit."""
    return pattern.rstrip('/').replace('.py', '').replace('/', '.')


def layer_table():
    """({module name: its row}, [(package name, row)] for the rows that name a whole folder or glob)."""
    exact, folders = {}, []
    for number, patterns in design_rows():
        for pattern in patterns:
            if pattern.endswith('/*.py') or (pattern.endswith('/') and '.' not in pattern):
                folders.append((pattern.split('/')[0], number))
            elif pattern.endswith('.py'):
                exact[module_of(pattern)] = number
    return exact, folders


def row_of(name, exact, folders):
    """The design row of a module of the project's (None for a module of another package)."""
    for candidate in (name, name.rsplit('.', 1)[0] if '.' in name else None):
        if candidate in exact:
            return exact[candidate]
    for package, number in folders:
        if name == package or name.startswith(package + '.'):
            return number
    return None


def test_every_module_has_a_row_in_the_design_guide():
    exact, folders = layer_table()
    unlisted = [os.path.relpath(p, ROOT) for p in sources('*.py', '*/*.py')
                if row_of(module_of(os.path.relpath(p, ROOT)), exact, folders) is None]
    assert not unlisted, 'modules without a row in docs/design.md: {}'.format(unlisted)


def test_no_import_points_up_the_design_guides_layers():
    exact, folders = layer_table()
    upward = []
    for path in sources('*.py', '*/*.py'):
        relative = os.path.relpath(path, ROOT)
        own = row_of(module_of(relative), exact, folders)
        for name in sorted(imported_names(path)):
            row = row_of(name, exact, folders)
            if row is not None and row > own:
                upward.append('{} (row {}) imports {} (row {})'.format(relative, own, name, row))
    assert not upward, upward


def test_the_layer_check_sees_an_import_inside_a_function(tmp_path):
    path = tmp_path / 'lower.py'
    path.write_text('def late():\n    import vae\n    from datasets import pairs\n')
    assert {'vae', 'datasets', 'datasets.pairs'} <= imported_names(str(path))
    exact, folders = layer_table()
    assert row_of('vae', exact, folders) > row_of('data', exact, folders) > row_of('common', exact, folders)
    assert row_of('datasets.pairs', exact, folders) != row_of('datasets.shapes3d', exact, folders)


def test_the_library_imports_neither_the_entry_point_nor_the_kit_nor_the_benchmarks_nor_the_tests():
    tests = {os.path.splitext(os.path.basename(p))[0] for p in sources('tests/*.py')}
    for path in sources('*.py', 'datasets/*.py', 'studies/*.py'):
        names = {name.split('.')[0] for name in imported_names(path)}
        outside = names & ({'kit', 'benchmarks'} | tests | (set() if path.endswith('vae.py') else {'vae'}))
        assert not outside, (path, outside)


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
