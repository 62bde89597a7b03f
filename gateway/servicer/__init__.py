"""The gRPC edge: protobuf in and out, domain types everywhere behind it."""
