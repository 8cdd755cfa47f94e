"""The plugin's own tests: `belvo_mock` comes from the installed wheel's entry point, and
pytester runs inner pytest sessions (xdist, --belvo-mock-url) in subprocesses."""

pytest_plugins = ["pytester"]
