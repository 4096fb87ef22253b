-- 0001_orders.sql (scope "orders") - the ordering core: buyers, products,
-- per-buyer prices, orders and their lines, announcements.
--
-- Every table is tenant-owned and follows 0001_core.sql's conventions:
-- tenant_id references tenants, row-level security enabled AND forced,
-- the policy binds reading and writing to app.tenant_id (S21), and the
-- app role gets only the statements the plugin runs (S1, S19).
--
-- Rows that other rows or the audit trail name are never deleted: a buyer
-- or product is made inactive instead.  `version` is the optimistic lock
-- behind ETag/If-Match: every update that changes a row bumps it.
-- Money is integer yen (bigint); tax rates are whole percents (8 or 10).
-- Codes are stored as the plugin normalised them (NFKC, trimmed), so
-- "Ａ－１" and "A-1" are one code.  search_text is written by the plugin:
-- code, name and kana normalised for search (NFKC, lower case, hiragana
-- folded to katakana).

CREATE TABLE orders_buyers (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    text NOT NULL REFERENCES tenants (id),
    code         text NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kana         text NOT NULL DEFAULT '' CHECK (length(kana) <= 200),
    postal_code  text NOT NULL DEFAULT '' CHECK (postal_code ~ '^([0-9]{3}-?[0-9]{4})?$'),
    address      text NOT NULL DEFAULT '' CHECK (length(address) <= 400),
    phone        text NOT NULL DEFAULT '' CHECK (phone ~ '^[0-9+() -]{0,32}$'),
    -- [{"name": ..., "email": ..., "phone": ...}]: who receives the
    -- buyer's notifications (recipients come from here, never from input: S8)
    contacts     jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(contacts) = 'array'),
    closing_day  smallint NOT NULL DEFAULT 31 CHECK (closing_day BETWEEN 1 AND 31), -- 31: month end
    active       boolean NOT NULL DEFAULT true,
    search_text  text NOT NULL DEFAULT '',
    version      integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, code),
    UNIQUE (tenant_id, id)
);

CREATE TABLE orders_products (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     text NOT NULL REFERENCES tenants (id),
    code          text NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kana          text NOT NULL DEFAULT '' CHECK (length(kana) <= 200),
    unit          text NOT NULL DEFAULT '個' CHECK (length(unit) BETWEEN 1 AND 20),
    unit_price    bigint NOT NULL CHECK (unit_price BETWEEN 0 AND 100000000000),
    tax_rate      smallint NOT NULL DEFAULT 10 CHECK (tax_rate IN (8, 10)),
    category      text NOT NULL DEFAULT '' CHECK (length(category) <= 100),
    stock_status  text NOT NULL DEFAULT 'in_stock'
                  CHECK (stock_status IN ('in_stock', 'low', 'out_of_stock')),
    active        boolean NOT NULL DEFAULT true,
    search_text   text NOT NULL DEFAULT '',
    version       integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, code),
    UNIQUE (tenant_id, id)
);
CREATE INDEX orders_products_category_idx ON orders_products (tenant_id, category, code);

-- A buyer's own price of a product, overriding the list price.
CREATE TABLE orders_prices (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    buyer_id    uuid NOT NULL,
    product_id  uuid NOT NULL,
    unit_price  bigint NOT NULL CHECK (unit_price BETWEEN 0 AND 100000000000),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, buyer_id, product_id),
    FOREIGN KEY (tenant_id, buyer_id) REFERENCES orders_buyers (tenant_id, id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES orders_products (tenant_id, id)
);
CREATE INDEX orders_prices_product_idx ON orders_prices (tenant_id, product_id);

-- Order numbers come from one sequence for all tenants: a per-tenant
-- counter row would serialise every order of a tenant on its lock until
-- commit.  Numbers are unique and increasing, not gapless.
CREATE SEQUENCE orders_number_seq;

CREATE TABLE orders_orders (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        text NOT NULL REFERENCES tenants (id),
    number           bigint NOT NULL DEFAULT nextval('orders_number_seq'),
    buyer_id         uuid NOT NULL,
    status           text NOT NULL DEFAULT 'placed'
                     CHECK (status IN ('placed', 'accepted', 'partially_shipped', 'shipped',
                                       'cancelled')),
    delivery_date    date NOT NULL,
    note             text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    -- Computed by the server from the lines (never taken from the client):
    -- taxable amounts per rate, tax per rate rounded once per rate on the
    -- order total (the qualified-invoice rule), and the total.
    subtotal         bigint NOT NULL CHECK (subtotal >= 0),
    taxable_8        bigint NOT NULL DEFAULT 0 CHECK (taxable_8 >= 0),
    taxable_10       bigint NOT NULL DEFAULT 0 CHECK (taxable_10 >= 0),
    tax_8            bigint NOT NULL DEFAULT 0 CHECK (tax_8 >= 0),
    tax_10           bigint NOT NULL DEFAULT 0 CHECK (tax_10 >= 0),
    total            bigint NOT NULL CHECK (total >= 0),
    placed_by        text NOT NULL,            -- the principal's user ID
    placed_at        timestamptz NOT NULL DEFAULT now(),
    accepted_at      timestamptz,
    shipped_at       timestamptz,
    cancelled_at     timestamptz,
    cancel_reason    text CHECK (cancel_reason IS NULL OR length(cancel_reason) <= 500),
    -- Idempotency-Key of the creating request, per principal, and the
    -- SHA-256 of its canonical body: a retry finds the order, a different
    -- body with the same key is refused.
    idempotency_key  text CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 255),
    request_hash     text,
    version          integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, buyer_id) REFERENCES orders_buyers (tenant_id, id),
    CHECK (total = subtotal + tax_8 + tax_10),
    CHECK (subtotal = taxable_8 + taxable_10)
);
CREATE UNIQUE INDEX orders_orders_idempotency_idx
    ON orders_orders (tenant_id, placed_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_orders_buyer_idx ON orders_orders (tenant_id, buyer_id, placed_at);
CREATE INDEX orders_orders_placed_idx ON orders_orders (tenant_id, placed_at);
CREATE INDEX orders_orders_status_idx ON orders_orders (tenant_id, status, placed_at);

-- Lines keep what the buyer ordered as it was: code, name, unit, price and
-- rate are copied from the product at placement.
CREATE TABLE orders_lines (
    tenant_id         text NOT NULL REFERENCES tenants (id),
    order_id          uuid NOT NULL,
    line_no           smallint NOT NULL CHECK (line_no BETWEEN 1 AND 1000),
    product_id        uuid NOT NULL,
    product_code      text NOT NULL,
    product_name      text NOT NULL,
    unit              text NOT NULL,
    unit_price        bigint NOT NULL CHECK (unit_price >= 0),
    tax_rate          smallint NOT NULL CHECK (tax_rate IN (8, 10)),
    quantity          integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    shipped_quantity  integer NOT NULL DEFAULT 0 CHECK (shipped_quantity BETWEEN 0 AND quantity),
    amount            bigint NOT NULL CHECK (amount = unit_price * quantity),
    PRIMARY KEY (tenant_id, order_id, line_no),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders_orders (tenant_id, id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES orders_products (tenant_id, id)
);

-- Maintenance and change notices shown after login (A1, A11).
CREATE TABLE orders_announcements (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          text NOT NULL REFERENCES tenants (id),
    kind               text NOT NULL DEFAULT 'notice'
                       CHECK (kind IN ('notice', 'maintenance', 'change')),
    audience           text NOT NULL DEFAULT 'all' CHECK (audience IN ('all', 'staff', 'buyers')),
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body               text NOT NULL DEFAULT '' CHECK (length(body) <= 10000),
    display_from       timestamptz NOT NULL,
    display_until      timestamptz NOT NULL,
    -- For kind 'maintenance': the planned window itself.
    maintenance_from   timestamptz,
    maintenance_until  timestamptz,
    created_by         text NOT NULL,
    version            integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (display_until > display_from),
    CHECK ((maintenance_from IS NULL) = (maintenance_until IS NULL)),
    CHECK (maintenance_until IS NULL OR maintenance_until > maintenance_from)
);
CREATE INDEX orders_announcements_display_idx
    ON orders_announcements (tenant_id, display_from, display_until);

ALTER TABLE orders_buyers ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders_buyers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orders_buyers
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE orders_products ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders_products FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orders_products
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE orders_prices ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders_prices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orders_prices
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE orders_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders_orders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orders_orders
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE orders_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orders_lines
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE orders_announcements ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders_announcements FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orders_announcements
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- No DELETE on master data or orders: inactive, cancelled.  Prices and
-- announcements may be removed.
GRANT SELECT, INSERT, UPDATE ON orders_buyers, orders_products, orders_orders, orders_lines
    TO tanomu_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON orders_prices, orders_announcements TO tanomu_app;
GRANT USAGE ON SEQUENCE orders_number_seq TO tanomu_app;
