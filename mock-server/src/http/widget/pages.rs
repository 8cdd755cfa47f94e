//! The hosted widget's screens, rendered by the server (maud: no script, nothing fetched but
//! the app's own logo): consent with the token's branding, CPF and password, the MFA token
//! with INSS's `inputless` instructions, the "are you sure" dialog with the exit survey, and
//! the pages for a token that opens nothing. In Portuguese, Spanish or English. Embedded by
//! the widget script, each page also tells the app's page what happened (`bridge.js`, the
//! only script, posting [`Bridge`] messages to the embedding origin).

use maud::{DOCTYPE, Markup, html};
use serde_json::{Value, json};

use super::Startup;
use crate::store::tokens::{Branding, WidgetToken};

/// The widget's language (`locale`): Spanish unless told otherwise, as Belvo's widget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Locale {
    Pt,
    #[default]
    Es,
    En,
}

impl Locale {
    pub fn parse(raw: Option<&str>) -> Self {
        match raw.map(str::to_ascii_lowercase).as_deref() {
            Some("pt") => Self::Pt,
            Some("en") => Self::En,
            _ => Self::Es,
        }
    }

    fn lang(self) -> &'static str {
        match self {
            Self::Pt => "pt-BR",
            Self::Es => "es",
            Self::En => "en",
        }
    }

    fn t(self, text: Text) -> &'static str {
        use Text::*;
        match (self, text) {
            (Self::Pt, Title) => "Conectar sua conta",
            (Self::Es, Title) => "Conecta tu cuenta",
            (Self::En, Title) => "Connect your account",
            (Self::Pt, Consent) => {
                "usa a Belvo para acessar com segurança seus dados de emprego do INSS."
            }
            (Self::Es, Consent) => {
                "usa Belvo para acceder de forma segura a tus datos de empleo del INSS."
            }
            (Self::En, Consent) => "uses Belvo to securely access your INSS employment data.",
            (Self::Pt, Shared) => {
                "Serão compartilhados: seus vínculos de emprego e seus dados pessoais."
            }
            (Self::Es, Shared) => "Se compartirán: tus empleos y tus datos personales.",
            (Self::En, Shared) => "What is shared: your employments and your personal details.",
            (Self::Pt, Terms) => "Termos e condições",
            (Self::Es, Terms) => "Términos y condiciones",
            (Self::En, Terms) => "Terms and conditions",
            (Self::Pt, Continue) => "Continuar",
            (Self::Es, Continue) => "Continuar",
            (Self::En, Continue) => "Continue",
            (Self::Pt, Exit) => "Sair",
            (Self::Es, Exit) => "Salir",
            (Self::En, Exit) => "Exit",
            (Self::Pt, LoginTitle) => "Entre com sua conta Meu INSS",
            (Self::Es, LoginTitle) => "Ingresa con tu cuenta Meu INSS",
            (Self::En, LoginTitle) => "Log in with your Meu INSS account",
            (Self::Pt, Cpf) => "CPF",
            (Self::Es, Cpf) => "CPF",
            (Self::En, Cpf) => "CPF",
            (Self::Pt, Password) => "Senha do Meu INSS",
            (Self::Es, Password) => "Contraseña de Meu INSS",
            (Self::En, Password) => "Meu INSS password",
            (Self::Pt, MfaTitle) => "Código de verificação",
            (Self::Es, MfaTitle) => "Código de verificación",
            (Self::En, MfaTitle) => "Verification code",
            (Self::Pt, MfaInstructions) => "Use seu aplicativo ou dispositivo para gerar um código",
            (Self::Es, MfaInstructions) => "Usa tu aplicación o dispositivo para generar un código",
            (Self::En, MfaInstructions) => "Use your app or device to generate a token",
            (Self::Pt, MfaToken) => "Código",
            (Self::Es, MfaToken) => "Código",
            (Self::En, MfaToken) => "Token",
            (Self::Pt, Sure) => "Tem certeza de que deseja sair?",
            (Self::Es, Sure) => "¿Seguro que quieres salir?",
            (Self::En, Sure) => "Are you sure you want to exit?",
            (Self::Pt, Why) => "Por que você está saindo?",
            (Self::Es, Why) => "¿Por qué te vas?",
            (Self::En, Why) => "Why are you leaving?",
            (Self::Pt, Back) => "Voltar",
            (Self::Es, Back) => "Volver",
            (Self::En, Back) => "Back",
            (Self::Pt, Invalid) => "O token de acesso não foi informado ou não é válido.",
            (Self::Es, Invalid) => "El token de acceso no fue enviado o no es válido.",
            (Self::En, Invalid) => "The access token was not provided or is not valid.",
            (Self::Pt, NoInstitution) => {
                "Nenhuma instituição corresponde à configuração do widget."
            }
            (Self::Es, NoInstitution) => {
                "Ninguna institución coincide con la configuración del widget."
            }
            (Self::En, NoInstitution) => "No institution matches the widget's configuration.",
            (Self::Pt, Connected) => "Conta conectada.",
            (Self::Es, Connected) => "Cuenta conectada.",
            (Self::En, Connected) => "Account connected.",
            (Self::Pt, Exited) => "Você saiu do widget.",
            (Self::Es, Exited) => "Saliste del widget.",
            (Self::En, Exited) => "You left the widget.",
            (Self::Pt, UpdateTitle) => "Atualize sua senha do Meu INSS",
            (Self::Es, UpdateTitle) => "Actualiza tu contraseña de Meu INSS",
            (Self::En, UpdateTitle) => "Update your Meu INSS password",
            (Self::Pt, NewToken) => "O INSS pede um novo código de verificação para esta conexão.",
            (Self::Es, NewToken) => {
                "El INSS pide un nuevo código de verificación para esta conexión."
            }
            (Self::En, NewToken) => "INSS asks for a new verification code for this connection.",
            (Self::Pt, ThisApp) => "Este aplicativo",
            (Self::Es, ThisApp) => "Esta aplicación",
            (Self::En, ThisApp) => "This app",
        }
    }

    /// The exit survey's reasons.
    fn reasons(self) -> [&'static str; 3] {
        match self {
            Self::Pt => [
                "Não lembro minha senha",
                "Não confio em compartilhar meus dados",
                "Outro motivo",
            ],
            Self::Es => [
                "No recuerdo mi contraseña",
                "No confío en compartir mis datos",
                "Otro motivo",
            ],
            Self::En => [
                "I don't remember my password",
                "I don't trust sharing my data",
                "Another reason",
            ],
        }
    }
}

#[derive(Clone, Copy)]
enum Text {
    Title,
    Consent,
    Shared,
    Terms,
    Continue,
    Exit,
    LoginTitle,
    Cpf,
    Password,
    MfaTitle,
    MfaInstructions,
    MfaToken,
    Sure,
    Why,
    Back,
    Invalid,
    NoInstitution,
    Connected,
    Exited,
    UpdateTitle,
    NewToken,
    ThisApp,
}

const STYLE: &str = r#"
*{box-sizing:border-box}body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#eef1f7;color:#1d2433}
main{max-width:420px;margin:0 auto;min-height:100vh;background:#fff;padding:24px 20px;display:flex;flex-direction:column;gap:16px}
header{display:flex;align-items:center;gap:12px}header img{height:40px;max-width:160px;object-fit:contain}
h1{font-size:21px;margin:0}p{line-height:1.45;margin:0}label{display:block;font-weight:600;margin-bottom:6px}
input[type=text],input[type=password]{width:100%;padding:12px;font-size:16px;border:1px solid #b9c2d3;border-radius:8px}
input:focus,button:focus,a:focus{outline:3px solid #7aa2ff;outline-offset:2px}
.field{margin-bottom:14px}.actions{display:flex;flex-direction:column;gap:10px;margin-top:8px}
button{width:100%;padding:13px;font-size:16px;font-weight:600;border-radius:8px;border:0;background:#1f4fd1;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1f4fd1;border:1px solid #1f4fd1}
.error{background:#fde2e1;color:#8b1a1a;border-radius:8px;padding:10px 12px}.field .error{margin-top:6px;padding:6px 10px}
.muted{color:#5b6577;font-size:14px}fieldset{border:1px solid #dde3ee;border-radius:8px;padding:10px 12px}
fieldset label{font-weight:400;margin:6px 0}
"#;

/// What an embedded page posts to the app's page: `PAGE_LOAD` for itself, then any `ERROR`,
/// or the end (`success`, `exit`). Nothing when the widget is not embedded.
#[derive(Debug, Default)]
pub struct Bridge {
    origin: Option<String>,
    messages: Vec<Value>,
}

impl Bridge {
    /// The bridge of page `page`, reached from `from` (Belvo's `PAGE_LOAD` `metadata`).
    pub fn page(startup: &Startup, page: &str, from: &str) -> Self {
        let mut bridge = Self {
            origin: startup.sdk_origin.clone(),
            messages: Vec::new(),
        };
        let institution = if page == "/consent" { "" } else { super::INSS };
        bridge = bridge.event(json!({
            "eventName": "PAGE_LOAD",
            "metadata": {"page": page, "from": from, "institution_name": institution},
        }));
        bridge
    }

    /// The bridge of a page with nothing to announce but `messages` (the end of a session).
    pub fn end(startup: &Startup) -> Self {
        Self {
            origin: startup.sdk_origin.clone(),
            messages: Vec::new(),
        }
    }

    pub fn embedded(&self) -> bool {
        self.origin.is_some()
    }

    /// An `onEvent` payload.
    pub fn event(self, data: Value) -> Self {
        self.post(json!({"kind": "event", "data": data}))
    }

    /// A message for the script (`{kind: "success" | "exit" | "event", …}`).
    pub fn post(mut self, message: Value) -> Self {
        if self.origin.is_some() {
            self.messages.push(message);
        }
        self
    }

    fn markup(&self) -> Markup {
        let Some(origin) = &self.origin else {
            return html! {};
        };
        html! {
            script src="/widget/bridge.js" data-origin=(origin)
                data-messages=(Value::Array(self.messages.clone()).to_string()) {}
        }
    }
}

fn layout(
    bridge: &Bridge,
    locale: Locale,
    title: &str,
    branding: Option<&Branding>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(locale.lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No favicon request (the fake serves none).
                link rel="icon" href="data:,";
                title { (title) " · Belvo" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                main {
                    @if let Some(brand) = branding {
                        header {
                            img src=(brand.company_logo) alt=(brand.company_name);
                            strong { (brand.company_name) }
                        }
                    }
                    (body)
                }
                (bridge.markup())
            }
        }
    }
}

/// The startup parameters and the token, carried by every form as hidden fields.
fn carried(startup: &Startup) -> Markup {
    html! {
        @for (name, value) in &startup.carried {
            input type="hidden" name=(name) value=(value);
        }
    }
}

fn exit_button(startup: &Startup, screen: &str) -> Markup {
    let locale = startup.locale;
    let action = if startup.show_close_dialog {
        "confirm"
    } else {
        "leave"
    };
    html! {
        form method="post" action="/widget/exit" {
            (carried(startup))
            input type="hidden" name="screen" value=(screen);
            input type="hidden" name="step" value=(action);
            button.secondary type="submit" { (locale.t(Text::Exit)) }
        }
    }
}

pub fn consent(bridge: &Bridge, startup: &Startup, token: &WidgetToken) -> Markup {
    let l = startup.locale;
    let branding = token.widget.branding.as_ref();
    let company = branding.map_or(l.t(Text::ThisApp), |b| b.company_name.as_str());
    layout(
        bridge,
        l,
        l.t(Text::Title),
        branding,
        html! {
            h1 { (l.t(Text::Title)) }
            p { strong { (company) } " " (l.t(Text::Consent)) }
            p.muted { (l.t(Text::Shared)) }
            @if let Some(brand) = branding {
                p { a href=(brand.company_terms_url) target="_blank" rel="noopener" { (l.t(Text::Terms)) } }
            }
            div.actions {
                form method="get" action="/widget/login" {
                    (carried(startup))
                    button type="submit" { (l.t(Text::Continue)) }
                }
                (exit_button(startup, "consent"))
            }
        },
    )
}

/// An error to show: by a field (`Some(name)`) or above the form.
pub type Shown<'a> = Option<(Option<&'a str>, &'a str)>;

/// The link an update-mode token repairs, as the login screen shows it.
#[derive(Debug)]
pub struct Repair {
    /// The institution asks for a new MFA token (no password to give).
    pub needs_token: bool,
    /// The link's CPF with its middle digits hidden.
    pub cpf: String,
}

pub fn login(
    bridge: &Bridge,
    startup: &Startup,
    token: &WidgetToken,
    error: Shown<'_>,
    repair: Option<&Repair>,
) -> Markup {
    let l = startup.locale;
    if let Some(repair) = repair {
        return update(bridge, startup, token, error, repair);
    }
    let at = |field: &str| error.filter(|(f, _)| *f == Some(field)).map(|(_, m)| m);
    let general = error.filter(|(f, _)| !matches!(f, Some("username" | "password")));
    layout(
        bridge,
        l,
        l.t(Text::LoginTitle),
        token.widget.branding.as_ref(),
        html! {
            h1 { (l.t(Text::LoginTitle)) }
            @if let Some((_, message)) = general {
                p.error role="alert" { (message) }
            }
            form method="post" action="/widget/login" {
                (carried(startup))
                div.field {
                    label for="username" { (l.t(Text::Cpf)) }
                    input #username type="text" name="username" inputmode="numeric"
                        autocomplete="username" placeholder="123.456.789-09" required;
                    @if let Some(message) = at("username") { p.error role="alert" { (message) } }
                }
                div.field {
                    label for="password" { (l.t(Text::Password)) }
                    input #password type="password" name="password" autocomplete="current-password" required;
                    @if let Some(message) = at("password") { p.error role="alert" { (message) } }
                }
                div.actions { button type="submit" { (l.t(Text::Continue)) } }
            }
            (exit_button(startup, "login"))
        },
    )
}

/// Update mode's login: the new password for the link's CPF, or (a link the institution asks
/// a new token of) only a button that opens the MFA screen.
fn update(
    bridge: &Bridge,
    startup: &Startup,
    token: &WidgetToken,
    error: Shown<'_>,
    repair: &Repair,
) -> Markup {
    let l = startup.locale;
    let title = if repair.needs_token {
        l.t(Text::MfaTitle)
    } else {
        l.t(Text::UpdateTitle)
    };
    layout(
        bridge,
        l,
        title,
        token.widget.branding.as_ref(),
        html! {
            h1 { (title) }
            @if let Some((_, message)) = error {
                p.error role="alert" { (message) }
            }
            form method="post" action="/widget/login" {
                (carried(startup))
                @if repair.needs_token {
                    p { (l.t(Text::NewToken)) }
                } @else {
                    p { (l.t(Text::Cpf)) ": " strong #cpf { (repair.cpf) } }
                    div.field {
                        label for="password" { (l.t(Text::Password)) }
                        input #password type="password" name="password" autocomplete="current-password" required;
                    }
                }
                div.actions { button type="submit" { (l.t(Text::Continue)) } }
            }
            (exit_button(startup, "login"))
        },
    )
}

pub fn mfa(
    bridge: &Bridge,
    startup: &Startup,
    token: &WidgetToken,
    session: (&str, &str),
    error: Option<&str>,
) -> Markup {
    let l = startup.locale;
    let (link, session) = session;
    layout(
        bridge,
        l,
        l.t(Text::MfaTitle),
        token.widget.branding.as_ref(),
        html! {
            h1 { (l.t(Text::MfaTitle)) }
            p { (l.t(Text::MfaInstructions)) }
            @if let Some(message) = error {
                p.error role="alert" { (message) }
            }
            form method="post" action="/widget/mfa" {
                (carried(startup))
                input type="hidden" name="link" value=(link);
                input type="hidden" name="session" value=(session);
                div.field {
                    label for="token" { (l.t(Text::MfaToken)) }
                    input #token type="text" name="token" inputmode="numeric" autocomplete="one-time-code" required;
                }
                div.actions { button type="submit" { (l.t(Text::Continue)) } }
            }
            (exit_button(startup, "mfa"))
        },
    )
}

/// "Are you sure?", with the exit survey unless `show_abandon_survey=false`.
pub fn confirm_exit(
    bridge: &Bridge,
    startup: &Startup,
    token: &WidgetToken,
    screen: &str,
) -> Markup {
    let l = startup.locale;
    layout(
        bridge,
        l,
        l.t(Text::Sure),
        token.widget.branding.as_ref(),
        html! {
            h1 { (l.t(Text::Sure)) }
            form method="post" action="/widget/exit" {
                (carried(startup))
                input type="hidden" name="screen" value=(screen);
                input type="hidden" name="step" value="leave";
                @if startup.show_abandon_survey {
                    fieldset {
                        legend { (l.t(Text::Why)) }
                        @for (i, reason) in l.reasons().iter().enumerate() {
                            label { input type="radio" name="reason" value=(i); " " (reason) }
                        }
                    }
                }
                div.actions { button type="submit" { (l.t(Text::Exit)) } }
            }
            form method="get" action=(if screen == "consent" { "/widget/" } else { "/widget/login" }) {
                (carried(startup))
                button.secondary type="submit" { (l.t(Text::Back)) }
            }
        },
    )
}

/// A token that opens nothing, where no callback URL is known to send the user to.
pub fn invalid(bridge: &Bridge, locale: Locale) -> Markup {
    layout(
        bridge,
        locale,
        locale.t(Text::Title),
        None,
        html! {
            h1 { (locale.t(Text::Title)) }
            p.error role="alert" { "ACCESS_TOKEN_NOT_VALID: " (locale.t(Text::Invalid)) }
        },
    )
}

/// The filters of the startup parameters leave no institution.
pub fn no_institution(bridge: &Bridge, startup: &Startup, token: &WidgetToken) -> Markup {
    let l = startup.locale;
    layout(
        bridge,
        l,
        l.t(Text::Title),
        token.widget.branding.as_ref(),
        html! {
            h1 { (l.t(Text::Title)) }
            p { (l.t(Text::NoInstitution)) }
            (exit_button(startup, "consent"))
        },
    )
}

/// Where the widget ends when the token has no `callback_urls`: what it would have sent.
pub fn finished(bridge: &Bridge, locale: Locale, connected: bool, query: &str) -> Markup {
    let text = if connected {
        Text::Connected
    } else {
        Text::Exited
    };
    layout(
        bridge,
        locale,
        locale.t(text),
        None,
        html! {
            h1 { (locale.t(text)) }
            p.muted { code { (query) } }
        },
    )
}
