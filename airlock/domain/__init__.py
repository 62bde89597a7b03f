"""The API's messages as plain Python types, shared by the client and the gateway.

Frozen dataclasses and enums with no dependency on protobuf, grpc or the gateway: the
servicer converts protobuf to these at its edge (gateway.servicer.convert), the client at
its own (airlock.convert), and everything between speaks only these.
"""
