/* Color roles: drawing names what a thing is, themes say how it looks (X-macro: name, key). */
#ifndef IMP_ROLES_H
#define IMP_ROLES_H

#define ROLES(X)                                                                                   \
    X(ROLE_NORMAL, "normal")             /* default text */                                       \
    X(ROLE_USER, "user")                 /* the user's messages */                                \
    X(ROLE_USER_LABEL, "user-label")     /* "you" above a user message */                         \
    X(ROLE_ASSISTANT, "assistant")       /* the model's replies */                                \
    X(ROLE_ASSISTANT_LABEL, "assistant-label")                                                     \
    X(ROLE_BOLD, "bold")                 /* **bold** in replies */                                \
    X(ROLE_CODE, "code")                 /* `inline code` */                                      \
    X(ROLE_CODE_BLOCK, "code-block")     /* fenced code blocks */                                 \
    X(ROLE_BULLET, "bullet")             /* list markers */                                       \
    X(ROLE_NOTICE, "notice")             /* notes from imp-chat in the transcript */              \
    X(ROLE_ERROR, "error")               /* errors in the status line or transcript */            \
    X(ROLE_STOPPED, "stopped")           /* the mark on a reply that was stopped */               \
    X(ROLE_ESCAPED, "escaped")           /* control characters shown as visible text */           \
    X(ROLE_IMAGE_CAPTION, "image-caption")                                                         \
    X(ROLE_TRAY, "tray")                 /* the staging tray */                                   \
    X(ROLE_STATUS, "status")             /* the status line */                                    \
    X(ROLE_STATUS_WARN, "status-warn")   /* the status line when the context is nearly full */    \
    X(ROLE_INPUT, "input")               /* the input editor */                                   \
    X(ROLE_PROMPT, "prompt")             /* the input's prompt mark */                            \
    X(ROLE_BORDER, "border")             /* separators */                                         \
    X(ROLE_HELP_KEY, "help-key")         /* keys in /help */

#define ROLES_ENUM(name, key) name,
typedef enum { ROLES(ROLES_ENUM) ROLE_COUNT } role;
#undef ROLES_ENUM

#endif
