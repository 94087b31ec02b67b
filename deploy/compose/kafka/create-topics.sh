#!/usr/bin/env bash
# Creates every topic in $TOPICS ("name:partitions ...") on $BOOTSTRAP if it does not exist yet.
# Dead-letter topics (*.dlt) are kept $DEAD_LETTER_RETENTION_MS. Idempotent: safe on every `up`.
set -euo pipefail
bin=/opt/kafka/bin
for entry in ${TOPICS}; do
  name="${entry%%:*}"
  partitions="${entry##*:}"
  config=()
  if [[ "${name}" == *.dlt ]]; then
    config=(--config "retention.ms=${DEAD_LETTER_RETENTION_MS}")
  fi
  "${bin}/kafka-topics.sh" --bootstrap-server "${BOOTSTRAP}" --create --if-not-exists \
    --topic "${name}" --partitions "${partitions}" --replication-factor 1 "${config[@]}"
done
"${bin}/kafka-topics.sh" --bootstrap-server "${BOOTSTRAP}" --list
