# OpenBao server configuration for docker-compose.yml: one node, integrated (raft)
# storage on the `openbao-data` volume. OpenBao 2.x has no `file` storage backend.
#
# The listener is plain HTTP because it is reachable only on the compose file's internal
# network. For production, put TLS on it (tls_cert_file / tls_key_file below), point
# PRIVACY_VAULT_ADDR at https://openbao:8200 with PRIVACY_VAULT_CA_CERT, and set
# PRIVACY_ENV=production.

ui = false

storage "raft" {
  path    = "/openbao/file"
  node_id = "openbao-1"
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_disable     = true
  # tls_cert_file = "/openbao/tls/server.crt"
  # tls_key_file  = "/openbao/tls/server.key"
}

api_addr     = "http://openbao:8200"
cluster_addr = "http://openbao:8201"

# Keep request and lease defaults modest; the service's calls are small and fast.
default_lease_ttl = "24h"
max_lease_ttl     = "768h"
