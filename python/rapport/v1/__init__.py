"""The wire contract: the modules protoc generates from proto/rapport/v1/*.proto
(common_pb2, interaction_pb2, segment_pb2, logwriter_pb2) at build time."""
