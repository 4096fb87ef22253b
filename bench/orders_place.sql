-- bench/orders_place.sql - pgbench's side of bench/orders_place.sh: the
-- statements plugins/orders/orders_api.c runs for one POST /api/v1/orders
-- of 5 lines (no Idempotency-Key), in the same order, as the same role
-- (tanomu_app), through the same RLS policies, plus the audit row and the
-- outbox event the host writes for it.  Not included: the auth plugin's
-- session lookup, which the host does before the handler.
-- Run with -M extended -D tenant=bench -D buyer=B001 -D user=<uuid>
-- -D day=YYYY-MM-DD -D codes='["P1",...]' -D ins='[...]' (values travel as
-- $n parameters, as the host sends them; \aset keeps the buyer id of the
-- lookup's rows, aliased only because \aset needs distinct names).
BEGIN;
SELECT set_config('app.tenant_id', :tenant, true);
SELECT b.id AS bid, b.active, c.n, p.id, p.name, p.unit, coalesce(pr.unit_price, p.unit_price),
       p.tax_rate, p.active, p.stock_status
  FROM orders_buyers b
  CROSS JOIN json_array_elements_text(:codes::json) WITH ORDINALITY AS c(code, n)
  LEFT JOIN orders_products p ON p.tenant_id = b.tenant_id AND p.code = c.code
  LEFT JOIN orders_prices pr ON pr.tenant_id = b.tenant_id AND pr.buyer_id = b.id
    AND pr.product_id = p.id
 WHERE b.code = :buyer ORDER BY c.n \aset
WITH o AS (INSERT INTO orders_orders (tenant_id, buyer_id, delivery_date, note, subtotal,
     taxable_8, taxable_10, tax_8, tax_10, total, placed_by, idempotency_key, request_hash)
   VALUES (:tenant, :bid::uuid, :day::date, '', 1500, 500, 1000, 40, 100, 1640,
     :user, NULL, NULL)
   ON CONFLICT (tenant_id, placed_by, idempotency_key) WHERE idempotency_key IS NOT NULL
   DO NOTHING RETURNING tenant_id, id),
 l AS (INSERT INTO orders_lines (tenant_id, order_id, line_no, product_id, product_code,
     product_name, unit, unit_price, tax_rate, quantity, amount)
   SELECT o.tenant_id, o.id, x.n, x.p, x.c, x.name, x.unit, x.price, x.rate, x.q, x.amount
   FROM o, json_to_recordset(:ins::json) AS x(n smallint, p uuid, c text, name text,
     unit text, price bigint, rate smallint, q int, amount bigint))
SELECT id AS order_id FROM o \gset
SELECT o.version, json_build_object('id', o.id, 'number', o.number, 'buyer', b.code,
  'status', o.status, 'delivery_date', o.delivery_date, 'note', o.note,
  'totals', json_build_object('subtotal', o.subtotal, 'total', o.total),
  'lines', coalesce((SELECT json_agg(json_build_object('line_no', l.line_no,
    'product', l.product_code, 'unit_price', l.unit_price, 'quantity', l.quantity,
    'amount', l.amount) ORDER BY l.line_no)
    FROM orders_lines l WHERE l.tenant_id = o.tenant_id AND l.order_id = o.id), '[]'))::text
  FROM orders_orders o JOIN orders_buyers b ON b.tenant_id = o.tenant_id AND b.id = o.buyer_id
 WHERE o.id = :order_id::uuid AND (NULL::text IS NULL OR b.code = NULL);
INSERT INTO audit_log (tenant_id, user_id, action, target_type, target_id, client_ip,
  request_id, result) VALUES (current_setting('app.tenant_id'), :user, 'orders.order.place',
  'order', :order_id, '127.0.0.1'::inet, 'pgbench', 'ok');
INSERT INTO outbox (tenant_id, name, payload)
  VALUES (current_setting('app.tenant_id'), 'order.placed', '{"id":"x","number":1}'::jsonb);
COMMIT;
