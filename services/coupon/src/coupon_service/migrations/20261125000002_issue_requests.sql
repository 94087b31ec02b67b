-- migrate:up
-- The outcome of every first-come-first-served reservation, written when it is settled (pending ones
-- exist only in Kafka until then; their ids are signed, see domain.reservation).
CREATE TABLE issue_requests (
    reservation_id  text PRIMARY KEY,
    coupon_id       bigint NOT NULL,
    user_id         bigint NOT NULL,
    status          text NOT NULL CHECK (status IN ('ISSUED', 'REJECTED')),
    reason          text CHECK (reason IN ('SOLD_OUT', 'ALREADY_ISSUED', 'COUPON_NOT_FOUND', 'UNPROCESSABLE')),
    user_coupon_id  bigint,
    requested_at    timestamptz NOT NULL,
    settled_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'ISSUED') = (reason IS NULL)),
    CHECK (status <> 'ISSUED' OR user_coupon_id IS NOT NULL)
);
CREATE INDEX issue_requests_recent ON issue_requests (settled_at, coupon_id);

-- migrate:down
DROP TABLE issue_requests;
