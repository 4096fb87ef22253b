/*
 * template.c - the shipped templates and "{{name}}" rendering (see
 * template.h).  Values are cleaned by mail_clean_text (the same rule as
 * the message's free text), so a name holding CR/LF or controls cannot
 * start a line of its own in a subject; the message builder encodes the
 * result anyway.
 */
#include <stdlib.h>
#include <string.h>

#include "mail.h"
#include "template.h"

#define FOOT_JA "\n\n--\nこのメールは送信専用アドレスから自動送信されています。\n"
#define FOOT_EN "\n\n--\nThis message was sent automatically; replies are not read.\n"

static const notify_template defaults[] = {
    {"order.placed", "ja", "【ご注文受付】注文番号 {{order_number}}",
     "{{contact_name}} 様\n\n{{buyer_name}} 様のご注文を受け付けました。\n\n"
     "注文番号: {{order_number}}\n合計金額: {{total}} 円（税込）\n納品予定日: "
     "{{delivery_date}}" FOOT_JA},
    {"order.placed", "en", "Order {{order_number}} received",
     "Dear {{contact_name}},\n\nWe received the order of {{buyer_name}}.\n\n"
     "Order: {{order_number}}\nTotal: JPY {{total}} (tax incl.)\nDelivery: "
     "{{delivery_date}}" FOOT_EN},
    {"order.accepted", "ja", "【ご注文確定】注文番号 {{order_number}}",
     "{{contact_name}} 様\n\nご注文 {{order_number}} を承りました。\n\n"
     "合計金額: {{total}} 円（税込）\n納品予定日: {{delivery_date}}" FOOT_JA},
    {"order.accepted", "en", "Order {{order_number}} accepted",
     "Dear {{contact_name}},\n\nYour order {{order_number}} was accepted.\n\n"
     "Total: JPY {{total}} (tax incl.)\nDelivery: {{delivery_date}}" FOOT_EN},
    {"order.shipped", "ja", "【出荷のお知らせ】注文番号 {{order_number}}",
     "{{contact_name}} 様\n\nご注文 {{order_number}} の商品を出荷しました。\n\n"
     "納品予定日: {{delivery_date}}" FOOT_JA},
    {"order.shipped", "en", "Order {{order_number}} shipped",
     "Dear {{contact_name}},\n\nThe goods of order {{order_number}} were shipped.\n\n"
     "Delivery: {{delivery_date}}" FOOT_EN},
    {"order.cancelled", "ja", "【ご注文キャンセル】注文番号 {{order_number}}",
     "{{contact_name}} 様\n\nご注文 {{order_number}} はキャンセルされました。" FOOT_JA},
    {"order.cancelled", "en", "Order {{order_number}} cancelled",
     "Dear {{contact_name}},\n\nOrder {{order_number}} was cancelled." FOOT_EN},
    {"notify.announcement_mail", "ja", "【お知らせ】{{title}}",
     "{{contact_name}} 様\n\n{{buyer_name}} 様へのお知らせです。\n\n{{announcement_body}}" FOOT_JA},
    {"notify.announcement_mail", "en", "Notice: {{title}}",
     "Dear {{contact_name}},\n\nA notice for {{buyer_name}}:\n\n{{announcement_body}}" FOOT_EN},
    {"security.important_operation", "ja", "【重要】アカウントで重要な操作が行われました",
     "{{login}} 様\n\nお使いのアカウントで次の操作が行われました: {{operation}}\n"
     "お心当たりがない場合は、すぐに管理者へご連絡ください。" FOOT_JA},
    {"security.important_operation", "en", "Important: a change to your account",
     "Hello {{login}},\n\nThis was done with your account: {{operation}}\n"
     "If it was not you, tell your administrator at once." FOOT_EN},
    {"auth.password_reset_requested", "ja", "パスワード再設定のご案内",
     "{{login}} 様\n\nパスワード再設定の依頼を受け付けました。次のコードは {{expires_min}} "
     "分間有効です。\n\n"
     "{{token}}\n\nお心当たりがない場合は、このメールを破棄してください。" FOOT_JA},
    {"auth.password_reset_requested", "en", "Resetting your password",
     "Hello {{login}},\n\nUse this code within {{expires_min}} minutes to reset your password:\n\n"
     "{{token}}\n\nIf you did not ask for it, ignore this message." FOOT_EN},
    {"auth.user_invited", "ja", "アカウントへのご招待",
     "{{login}} 様\n\nアカウントが作成されました。次のコードでパスワードを設定してください"
     "（{{expires_min}} 分間有効）。\n\n{{token}}" FOOT_JA},
    {"auth.user_invited", "en", "Your new account",
     "Hello {{login}},\n\nAn account was made for you. Set its password with this code "
     "(valid {{expires_min}} minutes):\n\n{{token}}" FOOT_EN},
    {"auth.account_locked", "ja", "【重要】アカウントがロックされました",
     "{{login}} 様\n\nログインの失敗が続いたため、アカウントを一時的にロックしました。" FOOT_JA},
    {"auth.account_locked", "en", "Important: your account was locked",
     "Hello {{login}},\n\nAfter repeated failed logins your account was locked for a "
     "while." FOOT_EN},
    {"auth.email_changed", "ja", "【重要】メールアドレスが変更されました",
     "{{login}} "
     "様\n\nアカウントのメールアドレスが変更されました。今後のお知らせは新しいアドレスに届きます。"
     "\n"
     "お心当たりがない場合は、すぐに管理者へご連絡ください。" FOOT_JA},
    {"auth.email_changed", "en", "Important: your e-mail address was changed",
     "Hello {{login}},\n\nThe e-mail address of your account was changed.\n"
     "If it was not you, tell your administrator at once." FOOT_EN},
    {"waf.alert", "ja",
     "【セキュリティ警告】WAF が攻撃とみられる通信を検知しました（遮断 {{blocked}} 件）",
     "{{contact_name}} 様\n\nWAF（Web アプリケーションファイアウォール）が攻撃とみられる通信を"
     "検知しました。\n\n"
     "期間: {{window_start}} 〜 {{window_end}}（UTC、{{interval_s}} 秒ごとの集計）\n"
     "遮断: {{blocked}} 件\n検知のみ（遮断なし）: {{detected}} 件\n\n"
     "ルールの分類別（件数）:\n{{families}}\n\nルール ID 別（件数）:\n{{rules}}\n"
     "その他のルール: {{other_rule_hits}} 件\n\n"
     "詳細は WAF のログをルール ID でご確認ください。" FOOT_JA},
    {"waf.alert", "en", "Security alert: the WAF stopped {{blocked}} suspicious requests",
     "Hello {{contact_name}},\n\nThe web application firewall saw requests that look like "
     "attacks.\n\n"
     "Window: {{window_start}} to {{window_end}} UTC (counted every {{interval_s}} s)\n"
     "Blocked: {{blocked}}\nDetected only (not blocked): {{detected}}\n\n"
     "By rule family (requests):\n{{families}}\n\nBy rule ID (requests):\n{{rules}}\n"
     "Other rules: {{other_rule_hits}}\n\n"
     "The WAF's log has the details by rule ID." FOOT_EN},
};

const notify_template *tpl_find(const char *event, const char *lang)
{
    const notify_template *ja = NULL;
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        if (strcmp(defaults[i].event, event) != 0)
            continue;
        if (lang && strcmp(defaults[i].lang, lang) == 0)
            return &defaults[i];
        if (strcmp(defaults[i].lang, "ja") == 0)
            ja = &defaults[i];
    }
    return ja;
}

static const char *lookup(const tpl_var *vars, size_t nvars, const char *name, size_t n)
{
    for (size_t i = 0; i < nvars; i++)
        if (strlen(vars[i].name) == n && memcmp(vars[i].name, name, n) == 0)
            return vars[i].value ? vars[i].value : "";
    return "";
}

char *tpl_render(const char *text, const tpl_var *vars, size_t nvars, int keep_lf)
{
    mail_buf b = {0};
    const char *p = text;

    mail_buf_add(&b, "", 0);
    while (*p) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (close == NULL) {
            mail_buf_str(&b, p);
            break;
        }
        mail_buf_add(&b, p, (size_t)(open - p));
        char *v = mail_clean_text(lookup(vars, nvars, open + 2, (size_t)(close - open - 2)),
                                  keep_lf);
        if (v == NULL)
            b.failed = 1;
        else
            mail_buf_str(&b, v);
        free(v);
        p = close + 2;
    }
    if (b.failed) {
        mail_buf_free(&b);
        return NULL;
    }
    return b.p;
}
