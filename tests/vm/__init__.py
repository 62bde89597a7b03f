"""A throw-away QEMU VM with a cgroup-v2-only Debian 6.1 kernel, for tests that need one.

``tests.vm.machine.run()`` boots it and runs one command; ``python -m tests.vm -- <command>``
does the same from a shell. See machine.py for what the guest looks like and what it costs.
"""
