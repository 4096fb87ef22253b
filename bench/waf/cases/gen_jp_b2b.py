"""gen_jp_b2b.py - writes jp-b2b.jsonl next to it: own cases for the WAF
profile in waf_eval.py's corpus format.  Benign (kind benign): the traffic
the platform's Japanese B2B tenants send - notes mixing Japanese, English,
phone numbers and punctuation, in JSON and forms; Shift_JIS / windows-31j /
EUC-JP forms and Shift_JIS query strings; REST PUT/PATCH (merge-patch+json)
/DELETE.  Attacks (kind attack): what the profile's replacement rules must
still catch - malformed-encoding XSS, Windows command injection next to a
phone number, attacks inside Shift_JIS forms and REST bodies.
    python3 bench/waf/cases/gen_jp_b2b.py
"""
import json, os, urllib.parse as up
UA="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
base=[["User-Agent",UA],["Accept","application/json"],["Accept-Language","ja-JP,ja;q=0.9"],["Cookie","session_id=9f1c2b3a4d5e6f708192a3b4c5d6e7f8; lang=ja"]]
out=[]; n=[0]
def rec(kind,cat,method,target,ct=None,body=None,extra=()):
    n[0]+=1
    h=list(base)+list(extra)
    if ct: h.append(["Content-Type",ct])
    out.append({"id":"case-%03d"%n[0],"kind":kind,"category":cat,"method":method,"target":target,"headers":h,"body":body,"source":"bench/waf/cases"})
def js(o): return json.dumps(o,ensure_ascii=False)
def form(d,enc="utf-8"): return up.urlencode(d,encoding=enc)
notes=["配達前にお電話ください; call 090-1234-5678","不在時; call 080-9876-5432 (担当: 鈴木)","Please deliver before noon; call 03-1234-5678 on arrival",
 "受付で名前を伝えてください & 090-1111-2222 へ連絡","R&D部 宛て / Q&A資料同封","【至急】※午前中必着 ①～③を同梱","＜注意＞ 天地無用・割れ物","<注> 納品書は不要です",
 "サイズ: 10' x 20'（フィート表記）、3\" パイプ","O'Brien様 分と合わせて発送","見積書 No.Q-2024/0456 の条件で発注します","前回と同じ梱包で; 追加なし",
 "〒100-0005 東京都千代田区丸の内1-1-1 丸の内ビル12F","TEL: 03-1234-5678 / FAX: 03-1234-5679","宛名: 株式会社山田商事 総務部 御中","価格 ¥12,800（税込）× 3 = ¥38,400",
 "納期 5/10〜5/12 のいずれか","ソフトウェア保守契約（表示価格は税抜）","予備のトナーも 2 本お願いします","「ボールペン 黒」を「赤」に変更; 数量はそのまま",
 "Order by end of month, net 30 days","1) 午前着 2) 台車使用可 3) 搬入口は裏手","email: yamada@example.co.jp に請求書PDFを送付","call center 経由で注文済み; call back 不要"]
for i,t in enumerate(notes):
    rec("benign","jp_notes_json","POST","/api/orders",ct="application/json",body=js({"order_id":"ORD-2024-%06d"%(9000+i),"customer":{"company":"株式会社山田商事","contact":"山田 太郎"},"items":[{"sku":"PPR-A4-500","quantity":2}],"notes":t}))
    rec("benign","jp_notes_form","POST","/orders/confirm",ct="application/x-www-form-urlencoded; charset=UTF-8",body=form({"company":"有限会社 田中工業","memo":t,"qty":"3"}),extra=[["Accept","text/html"]])
sj=["株式会社ソフト表示","ソフトウェア能力予算","東京都港区芝浦 表参道ビル","コピー用紙 A4 500枚×5冊","午前中着希望; call 090-1234-5678","機能追加の件（予定表参照）","ｼｬｼﾝ ｾｯﾄ 株式会社ｿﾌﾄ"]
for i,t in enumerate(sj):
    rec("benign","jp_sjis","POST","/legacy/order.cgi",ct="application/x-www-form-urlencoded; charset=Shift_JIS",body=form({"kaisha":t,"biko":t,"suryo":"1"},"shift_jis"),extra=[["Accept","text/html"]])
    rec("benign","jp_sjis","GET","/legacy/search.cgi?"+form({"q":t},"shift_jis"),extra=[["Accept","text/html"]])
    rec("benign","jp_sjis","POST","/legacy/order.cgi",ct="application/x-www-form-urlencoded; charset=windows-31j",body=form({"kaisha":t,"biko":t},"cp932"),extra=[["Accept","text/html"]])
    rec("benign","jp_sjis","POST","/legacy/order.cgi",ct="application/x-www-form-urlencoded; charset=EUC-JP",body=form({"kaisha":t,"biko":t},"euc_jp"),extra=[["Accept","text/html"]])
for i in range(6):
    rec("benign","jp_rest","PATCH","/api/orders/ORD-2024-%06d"%(9100+i),ct="application/merge-patch+json",body=js({"notes":notes[i],"shipping":{"time_slot":"午前中"}}))
    rec("benign","jp_rest","PUT","/api/customers/C-%04d"%i,ct="application/json; charset=utf-8",body=js({"company":"医療法人社団 健康会","department":"総務部","address":"大阪府大阪市北区梅田3-1-1"}))
    rec("benign","jp_rest","DELETE","/api/cart/items/SKU-%d"%i)
    rec("benign","jp_rest","PATCH","/api/orders/ORD-2024-%06d/lines"%(9200+i),ct="application/json-patch+json",body=js([{"op":"replace","path":"/lines/%d/quantity"%i,"value":i+2},{"op":"add","path":"/notes","value":notes[i+6]}]))
    rec("benign","jp_rest","GET","/api/orders?"+form({"customer":"株式会社エム・アンド・ケイ","status":"未出荷","sort":"-created_at"}))
# multipart uploads: a Japanese file name and Japanese text fields
for i, (fname, memo) in enumerate([("見積書_2024-05.pdf", "見積書を添付します; call 090-1234-5678"),
                                   ("発注書（株式会社山田商事）.csv", "数量は前回と同じ"),
                                   ("納品書 No.123.xlsx", "【至急】ご確認ください")]):
    b = "----tanomuBoundary%d" % i
    body = ("--%s\r\nContent-Disposition: form-data; name=\"memo\"\r\n\r\n%s\r\n"
            "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
            "Content-Type: text/plain\r\n\r\n品番,数量\r\nPPR-A4-500,10\r\n--%s--\r\n") % (b, memo, b, fname, b)
    rec("benign","jp_multipart","POST","/api/attachments",ct="multipart/form-data; boundary=%s" % b,body=body)
# attacks the profile must keep catching
mal=["%BCscript%BEalert(1)%BC/script%BE","%BCimg src=x onerror=alert(1)%BE","株式会社%BCscript%BEalert(document.cookie)%BC/script%BE",
     "%25BCscript%25BE","%26%23188%3Bscript%26%23190%3B","%5Cxbcscript%5Cxbe"]
for m in mal:
    rec("attack","case_malformed_xss","GET","/api/products/search?q="+m.replace(" ","%20"))
    rec("attack","case_malformed_xss","POST","/orders/confirm",ct="application/x-www-form-urlencoded; charset=UTF-8",body="company=x&memo="+m)
    rec("attack","case_malformed_xss","POST","/api/orders",ct="application/json",body=js({"notes":up.unquote_to_bytes(m).decode("latin-1")}))
cmd=["; call evil.bat","; call 090-1234-5678 & cmd /c whoami","| call C:\\temp\\x.cmd","; call 090-1234-5678; powershell -enc ZQBjAGgAbwA=","& call :label & net user hacker P@ss /add"]
for c in cmd:
    rec("attack","case_cmd_windows","POST","/api/orders",ct="application/json",body=js({"notes":"配達前に連絡"+c}))
    rec("attack","case_cmd_windows","GET","/api/products/search?q="+up.quote("x"+c))
xss=["<script>alert(1)</script>","<img src=x onerror=alert(1)>","' OR 1=1 --","../../../../etc/passwd"]
for x in xss:
    rec("attack","case_sjis_attack","POST","/legacy/order.cgi",ct="application/x-www-form-urlencoded; charset=Shift_JIS",body=form({"kaisha":"株式会社ソフト","biko":x},"shift_jis"))
    rec("attack","case_sjis_attack","POST","/legacy/order.cgi",ct="application/x-www-form-urlencoded; charset=Shift_JIS",body=form({"kaisha":"株式会社ソフト"+x},"shift_jis"))
    rec("attack","case_rest_attack","PATCH","/api/orders/ORD-1",ct="application/merge-patch+json",body=js({"notes":"午前中 "+x}))
for i, (fname, memo) in enumerate([("../../etc/passwd", "見積書"), ("x.pdf", "<script>alert(1)</script>"),
                                   ("x.csv", "1' UNION SELECT password FROM users--")]):
    b = "----tanomuBoundaryA%d" % i
    body = ("--%s\r\nContent-Disposition: form-data; name=\"memo\"\r\n\r\n%s\r\n"
            "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
            "Content-Type: text/plain\r\n\r\nPPR-A4-500,10\r\n--%s--\r\n") % (b, memo, b, fname, b)
    rec("attack","case_multipart_attack","POST","/api/attachments",ct="multipart/form-data; boundary=%s" % b,body=body)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)),"jp-b2b.jsonl"),"w") as f:
    for r in out: f.write(json.dumps(r,ensure_ascii=False)+"\n")
print(len(out))
