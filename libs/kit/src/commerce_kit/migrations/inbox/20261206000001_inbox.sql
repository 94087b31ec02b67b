-- migrate:up
-- The events each consumer has handled, so that a redelivered one changes nothing (see
-- commerce_kit.inbox). A schema whose own migrations made this table (this very shape) keeps it as
-- it is, rows and all.
CREATE TABLE IF NOT EXISTS inbox (
    consumer    text NOT NULL,
    event_id    uuid NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- migrate:down
DROP TABLE inbox;
