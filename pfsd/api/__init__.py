"""gRPC servicers: pfs_v2.API split by resource, plus auth_v2 and versionpb_v2 stand-ins."""
