-- 0004_auth_email.sql (scope "auth") - an e-mail address on accounts.
--
-- Optional; validated by the plugin (email.c) and stored with its domain
-- in lower case, which the CHECK holds it to (a local part of 1 to 64
-- bytes of a dot-atom, one '@', an ASCII domain of at least two labels).
-- One address per account and per tenant whatever its case: the unique
-- index is on lower(email), like the login ID's.  auth_users is tenant-
-- owned with row-level security enabled and forced (0001_auth.sql), and
-- the column inherits it: an address of tenant A is not visible to, nor
-- taken for, a request of tenant B (S21).

ALTER TABLE auth_users ADD COLUMN email text
    CHECK (email IS NULL OR (
        length(email) BETWEEN 3 AND 254
        AND email ~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~.-]{1,64}@[a-z0-9.-]+\.[a-z0-9-]+$'
    ));
CREATE UNIQUE INDEX auth_users_email_idx ON auth_users (tenant_id, lower(email))
    WHERE email IS NOT NULL;
