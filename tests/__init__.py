"""The test suites, one package each (tests.api, tests.cli, tests.client, tests.contracts).

Why packages: pytest imports a test module under its package's dotted name, so each suite's
modules are ``tests.<suite>.<module>`` and a suite's folder never stands in for a project
package of the same name (tests/api is not ``api``). Helpers live in ``tests/helpers.py``
(shared by the suites) and ``tests/<suite>/helpers.py``; fixtures in each conftest.py.
"""
