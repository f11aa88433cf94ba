CREATE TABLE visits (
    id bigserial PRIMARY KEY,
    host text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
