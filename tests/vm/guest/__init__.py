"""Checks that run inside the cgroup-v2 VM (tests/vm/test_guest.py boots it and runs them).

Named ``check_*.py`` so that the host's pytest never collects them: they need a cgroup-v2
kernel and take the cgroup they are started in.
"""
