-- post.lua - wrk script for bench/waf/run.sh: a 1 KiB (1024-byte UTF-8)
-- JSON order in Japanese, benign, the kind of body the platform's B2B tenants
-- receive most.  Chosen so that even the anchor (CRS as shipped) lets it
-- through - its company name has no byte pair that trips 941310 - so every
-- target is measured inspecting and passing the request, not blocking it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.body = '{"order_id":"ORD-2024-004711","customer":{"company":"丸の内フードサービス㈱","department":"総務部","contact":"山田 太郎","email":"yamada@example.co.jp","phone":"03-1234-5678"},"shipping":{"postal_code":"100-0005","address":"東京都千代田区丸の内1-1-1 丸の内ビル12階","date":"2024-05-10","time_slot":"午前中"},"items":[{"sku":"PPR-A4-500","name":"コピー用紙 A4 500枚","quantity":10,"unit_price":450},{"sku":"PEN-BK-05-10","name":"ボールペン 黒 0.5mm 10本入","quantity":3,"unit_price":980},{"sku":"TNR-CRT-TN","name":"トナーカートリッジ(シアン)","quantity":1,"unit_price":12800},{"sku":"CLR-FL-A4-20","name":"クリアファイル A4 20枚","quantity":5,"unit_price":380}],"ref":"PO-2024-00000000000000000000000000000000000000000000000000000000000000","payment":{"method":"invoice","terms":"月末締め翌月末払い"},"notes":"納品時は受付にお声がけください。請求書は経理部宛に郵送でお願いします。前回と同じ梱包で。"}'
