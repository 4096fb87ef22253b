-- 0005_auth_token_buyer.sql (scope "auth") - API tokens for a buyer.
--
-- A token may have the role buyer, then alone and with the buyer's ID,
-- which its principal carries as the attribute buyer_id exactly as a
-- buyer's staff member's session does; no other token has a buyer ID.
-- auth_tokens keeps its forced row-level security (0003_auth_tokens.sql).

ALTER TABLE auth_tokens ADD COLUMN buyer_id text
    CHECK (buyer_id IS NULL OR length(buyer_id) BETWEEN 1 AND 128);
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_roles_check;
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_roles_check
    CHECK (cardinality(roles) >= 1
           AND roles <@ ARRAY['tenant_admin', 'staff', 'buyer']::text[]
           AND (roles = ARRAY['buyer']::text[]) = (buyer_id IS NOT NULL)
           AND (NOT ('buyer' = ANY (roles)) OR cardinality(roles) = 1));
