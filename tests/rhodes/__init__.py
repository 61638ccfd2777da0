"""Rhodes' own specs, ported onto rhom's public API (issue: Rhodes exactness).

Each module holds one Rhodes spec file, in its order and with its ``it`` names, so a reader
can hold it next to the Ruby file: rhoconnect-client's ``spec/rhoconnect_spec/app/spec/``
(syncengine, blobsync, bulksync, blob_bulksync) against a real rhom.server on 127.0.0.1,
and rhodes' ``spec/phone_spec/app/spec/rhom_object_spec.rb`` on real SQLite files.
"""
