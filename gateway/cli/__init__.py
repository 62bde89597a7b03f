"""The ``airlock`` command line: run a gateway (``serve``) and talk to one (everything else).

Client commands are thin: each opens an ``AirlockClient`` on ``--target``, makes its calls and
prints the answer, so what the CLI can do is exactly what the gRPC API offers a host.
"""
