# Least-privilege OpenBao/Vault policy for the Privacy Vault service.
#
# Grants only the transit operations the service performs, and only on its keys:
#   privacy-kek      wraps every data subject's DEK (derived: the context is the subject)
#   privacy-service  wraps the service's own keys (blind index, token signing, webhook
#                    signing secrets)
#   privacy-receipts, privacy-audit-signing  sign receipts and audit seals
# and the erasure tombstones on the privacy-tombstones KV v2 mount (see the end).
# If you change PRIVACY_VAULT_MOUNT, a PRIVACY_*_KEY_NAME / PRIVACY_KEK_NAME,
# PRIVACY_AUDIT_SIGNING_KEY or PRIVACY_TOMBSTONE_MOUNT, change the paths below to match.
#
# Deliberately absent: deleting keys, exporting or backing them up (transit/export,
# transit/backup, transit/restore), trimming versions, encrypt/decrypt of arbitrary data
# under other keys, any other key name, and sys/* (the transit mount is enabled by an
# operator, not by the service).
#
#   bao policy write privacy-vault deploy/privacy-vault-policy.hcl

# Read a key's configuration; create it on first start. Creation may only ask for a
# non-exportable key without plaintext backup (the service refuses any other anyway).
path "transit/keys/privacy-kek" {
  capabilities = ["read", "create", "update"]
  allowed_parameters = {
    "type"                   = ["aes256-gcm96"]
    "derived"                = []
    "exportable"             = [false]
    "allow_plaintext_backup" = [false]
  }
}
path "transit/keys/privacy-service" {
  capabilities = ["read", "create", "update"]
  allowed_parameters = {
    "type"                   = ["aes256-gcm96"]
    "derived"                = []
    "exportable"             = [false]
    "allow_plaintext_backup" = [false]
  }
}

# KEK rotation: add a version, then retire old ones by raising min_decryption_version.
# The config endpoint may change nothing else (not deletion_allowed, not exportable).
path "transit/keys/privacy-kek/rotate" {
  capabilities = ["update"]
}
path "transit/keys/privacy-service/rotate" {
  capabilities = ["update"]
}
path "transit/keys/privacy-kek/config" {
  capabilities = ["update"]
  allowed_parameters = {
    "min_decryption_version" = []
  }
}
path "transit/keys/privacy-service/config" {
  capabilities = ["update"]
  allowed_parameters = {
    "min_decryption_version" = []
  }
}

# Envelope encryption: new data keys (returned wrapped and in plaintext), unwrap them,
# and rewrap them under the latest key version without their plaintext leaving Vault.
path "transit/datakey/plaintext/privacy-kek" {
  capabilities = ["update"]
}
path "transit/datakey/plaintext/privacy-service" {
  capabilities = ["update"]
}
path "transit/decrypt/privacy-kek" {
  capabilities = ["update"]
}
path "transit/decrypt/privacy-service" {
  capabilities = ["update"]
}
path "transit/rewrap/privacy-kek" {
  capabilities = ["update"]
}
path "transit/rewrap/privacy-service" {
  capabilities = ["update"]
}

# Keyed hashes and signatures made inside Vault (the optional suffix is the algorithm).
path "transit/hmac/privacy-service" {
  capabilities = ["update"]
}
path "transit/hmac/privacy-service/*" {
  capabilities = ["update"]
}
path "transit/sign/privacy-service" {
  capabilities = ["update"]
}
path "transit/sign/privacy-service/*" {
  capabilities = ["update"]
}
path "transit/verify/privacy-service" {
  capabilities = ["update"]
}
path "transit/verify/privacy-service/*" {
  capabilities = ["update"]
}

# Signing keys (ed25519): consent and erasure receipts, and audit seals. Created on first
# start; read returns the public keys that GET /v1/keys/public publishes.
path "transit/keys/privacy-receipts" {
  capabilities = ["read", "create", "update"]
  allowed_parameters = {
    "type"                   = ["ed25519"]
    "derived"                = []
    "exportable"             = [false]
    "allow_plaintext_backup" = [false]
  }
}
path "transit/keys/privacy-audit-signing" {
  capabilities = ["read", "create", "update"]
  allowed_parameters = {
    "type"                   = ["ed25519"]
    "derived"                = []
    "exportable"             = [false]
    "allow_plaintext_backup" = [false]
  }
}
path "transit/sign/privacy-receipts" {
  capabilities = ["update"]
}
path "transit/verify/privacy-receipts" {
  capabilities = ["update"]
}
path "transit/sign/privacy-audit-signing" {
  capabilities = ["update"]
}
path "transit/verify/privacy-audit-signing" {
  capabilities = ["update"]
}

# Erasure tombstones (PRIVACY_TOMBSTONE_MOUNT, a KV v2 mount the operator enables:
#   bao secrets enable -path=privacy-tombstones kv-v2
# ). Written before an erasure deletes anything and updated after it; listed by the replay
# that re-erases subjects a database restore brought back. No delete, destroy, undelete or
# metadata changes: the service cannot remove the proof that it erased someone.
path "privacy-tombstones/data/subjects/*" {
  capabilities = ["create", "read", "update"]
}
path "privacy-tombstones/metadata/subjects" {
  capabilities = ["list"]
}
path "privacy-tombstones/metadata/subjects/" {
  capabilities = ["list"]
}
