//! The Lua 5.1 scripting engine behind EVAL/EVALSHA/SCRIPT, built the way
//! Redis 7.0 builds it: one interpreter, scripts cached by SHA1, globals
//! protected, `redis.call` running a command into a scratch reply buffer
//! whose bytes are converted into Lua values.
//!
//! A script runs inside the EVAL handler with the store locked. Other
//! connections see `ScriptStatus` (lock-free) to answer BUSY and SCRIPT KILL
//! while a script runs too long.

pub mod bit;
pub mod cjson;

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use ahash::HashMap;
use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, Variadic, VmState};
use parking_lot::Mutex;
use rhea_resp::{fmt_double, Out};

use crate::error::{CmdError, CmdResult};
use crate::table::{flags, CommandTable};
use crate::Ctx;

/// What other connections may read about the script being run.
#[derive(Debug, Default)]
pub struct ScriptStatus {
    running: AtomicBool,
    started_ms: AtomicI64,
    kill: AtomicBool,
    wrote: AtomicBool,
}

impl ScriptStatus {
    /// Has a script been running for more than `threshold_ms`?
    pub fn busy(&self, now_ms: i64, threshold_ms: i64) -> bool {
        self.running.load(Ordering::Acquire) && now_ms - self.started_ms.load(Ordering::Acquire) >= threshold_ms
    }

    /// SCRIPT KILL: the error text, or None when the kill was requested.
    pub fn request_kill(&self) -> Result<(), &'static str> {
        if !self.running.load(Ordering::Acquire) {
            return Err("NOTBUSY No scripts in execution right now.");
        }
        if self.wrote.load(Ordering::Acquire) {
            return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
        }
        self.kill.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops the running script whatever it wrote (SHUTDOWN NOSAVE).
    pub fn force_kill(&self) {
        self.kill.store(true, Ordering::Release);
    }
}

/// The scripting state kept in `Shared`.
#[derive(Default)]
pub struct Scripting {
    pub status: Arc<ScriptStatus>,
    /// Created on first use; locked after the store (lock order).
    engine: Mutex<Option<Engine>>,
}

impl Scripting {
    /// SCRIPT FLUSH: a new interpreter, as Redis does.
    pub fn flush(&self) {
        *self.engine.lock() = None;
    }
}

const KILLED: &str = "Script killed by user with SCRIPT KILL...";
/// Chunk name of the engine's own Lua helpers: their frames are skipped
/// when locating the user's line in an error.
const INTERNAL: &str = "=rhea";

struct Engine {
    lua: Lua,
    scripts: HashMap<String, Function>,
    /// The real globals (KEYS/ARGV are set here; scripts see a read-only
    /// proxy).
    globals: Table,
    env: Table,
    redis: Table,
    xpcall: Function,
    handler: Function,
    resp3: Arc<AtomicBool>,
    rand: Arc<AtomicU64>,
}

fn lua_err(e: mlua::Error) -> CmdError {
    CmdError::err(format!("Error running script: {e}"))
}

/// Redis's `luaPushErrorBuff`: "-CODE msg" keeps its code, anything else
/// gets ERR; trailing CR/LF trimmed.
fn error_text(raw: &str) -> String {
    let (code, msg) = match raw.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => (code, msg),
            None => ("ERR", rest),
        },
        None => ("ERR", raw),
    };
    format!("{code} {}", msg.trim_matches(|c| c == '\r' || c == '\n'))
}

fn error_table(lua: &Lua, raw: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", error_text(raw))?;
    Ok(t)
}

/// Redis's rand48 (`redisLrand48`), so math.random is reproducible from a
/// seed.
fn lrand48(state: &AtomicU64) -> i32 {
    let x = state.load(Ordering::Relaxed);
    let next = (x.wrapping_mul(0x5DEECE66D).wrapping_add(0xB)) & 0xFFFF_FFFF_FFFF;
    state.store(next, Ordering::Relaxed);
    (next >> 17) as i32
}

fn srand48(state: &AtomicU64, seed: i32) {
    state.store((((seed as u32) as u64) << 16) | 0x330E, Ordering::Relaxed);
}

const SETUP: &str = r#"
local G, raw_redis, convert = ...
local setfenv, setmetatable, error, tostring, loadstring, load = setfenv, setmetatable, error, tostring, loadstring, load
local function ro(t)
  return setmetatable({}, {
    __index = t,
    __newindex = function() error("Attempt to modify a readonly table", 2) end,
    __metatable = false,
  })
end
local env = setmetatable({}, {
  __index = function(_, k)
    local v = G[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = function() error("Attempt to modify a readonly table", 2) end,
  __metatable = false,
})
for _, name in ipairs({"print", "dofile", "loadfile", "module", "require", "newproxy", "getfenv", "setfenv", "package", "os", "io", "debug"}) do
  G[name] = nil
end
G.loadstring = function(s, name)
  local f, e = loadstring(s, name)
  if f then setfenv(f, env) end
  return f, e
end
G.load = function(fn, name)
  local f, e = load(fn, name)
  if f then setfenv(f, env) end
  return f, e
end
for _, name in ipairs({"string", "math", "table", "coroutine", "bit", "cjson"}) do
  G[name] = ro(G[name])
end
G.redis = ro(raw_redis)
G._G = env
local raw_pcall = pcall
local function fix(ok, ...)
  if ok then return ok, ... end
  return ok, convert((...))
end
G.pcall = function(...) return fix(raw_pcall(...)) end
return env
"#;

type Raised = (bool, Value);

fn raise_table(lua: &Lua, msg: &str) -> mlua::Result<Raised> {
    Ok((false, Value::Table(error_table(lua, msg)?)))
}

impl Engine {
    fn new(status: Arc<ScriptStatus>) -> mlua::Result<Engine> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH;
        let lua = Lua::new_with(libs, LuaOptions::default())?;
        let globals = lua.globals();
        let resp3 = Arc::new(AtomicBool::new(false));
        let rand = Arc::new(AtomicU64::new(0));
        srand48(&rand, 0);

        globals.raw_set("bit", bit::library(&lua)?)?;
        globals.raw_set("cjson", cjson::library(&lua)?)?;
        let math: Table = globals.get("math")?;
        {
            let rand2 = rand.clone();
            math.raw_set(
                "random",
                lua.create_function(move |lua, args: Variadic<Value>| {
                    let r = (lrand48(&rand2) % i32::MAX) as f64 / i32::MAX as f64;
                    let fail = |m: &str| Ok((false, Value::String(lua.create_string(m)?)));
                    match args.len() {
                        0 => Ok((true, Value::Number(r))),
                        1 => {
                            let u = match bit::check_num(&args, 0, "random") {
                                Ok(u) => u as i32,
                                Err(m) => return fail(&m),
                            };
                            if u < 1 {
                                return fail("bad argument #1 to 'random' (interval is empty)");
                            }
                            Ok((true, Value::Number((r * u as f64).floor() + 1.0)))
                        }
                        2 => {
                            let (l, u) = match (bit::check_num(&args, 0, "random"), bit::check_num(&args, 1, "random"))
                            {
                                (Ok(l), Ok(u)) => (l as i32, u as i32),
                                (Err(m), _) | (_, Err(m)) => return fail(&m),
                            };
                            if l > u {
                                return fail("bad argument #2 to 'random' (interval is empty)");
                            }
                            Ok((true, Value::Number((r * (u as f64 - l as f64 + 1.0)).floor() + l as f64)))
                        }
                        _ => fail("wrong number of arguments"),
                    }
                })?,
            )?;
            let rand = rand.clone();
            math.raw_set(
                "randomseed",
                lua.create_function(move |lua, args: Variadic<Value>| match bit::check_num(&args, 0, "randomseed") {
                    Ok(seed) => {
                        srand48(&rand, seed as i32);
                        Ok((true, Value::Nil))
                    }
                    Err(m) => Ok((false, Value::String(lua.create_string(&m)?))),
                })?,
            )?;
        }

        let redis = lua.create_table()?;
        redis.raw_set("REPL_ALL", 3)?;
        redis.raw_set("REPL_AOF", 1)?;
        redis.raw_set("REPL_SLAVE", 2)?;
        redis.raw_set("REPL_REPLICA", 2)?;
        redis.raw_set("REPL_NONE", 0)?;
        redis.raw_set("LOG_DEBUG", 0)?;
        redis.raw_set("LOG_VERBOSE", 1)?;
        redis.raw_set("LOG_NOTICE", 2)?;
        redis.raw_set("LOG_WARNING", 3)?;
        redis.raw_set("REDIS_VERSION", "7.0.15")?;
        redis.raw_set("REDIS_VERSION_NUM", 0x07000f)?;

        let convert_status = status.clone();
        let convert = lua.create_function(move |lua, e: Value| pcall_error(lua, e, &convert_status))?;
        let setup = lua.load(SETUP).set_name(INTERNAL);
        let env: Table = setup.call((globals.clone(), redis.clone(), convert))?;
        // The library tables were replaced by read-only proxies: wrap the
        // raw functions now in place in the raw tables.
        for lib in ["bit", "cjson"] {
            let proxy: Table = globals.raw_get(lib)?;
            let Some(mt) = proxy.metatable() else { continue };
            let raw: Table = mt.raw_get("__index")?;
            for pair in raw.clone().pairs::<Value, Value>() {
                let (k, v) = pair?;
                if let Value::Function(f) = v {
                    if !matches!(&k, Value::String(s) if s.as_bytes().starts_with(b"_")) {
                        raw.raw_set(k, wrap(&lua, f)?)?;
                    }
                }
            }
        }
        for name in ["random", "randomseed"] {
            let f: Function = math.raw_get(name)?;
            math.raw_set(name, wrap(&lua, f)?)?;
        }

        let fns: [(&str, Function); 9] = [
            (
                "sha1hex",
                lua.create_function(|lua, args: Variadic<Value>| {
                    if args.len() != 1 {
                        return raise_table(lua, "wrong number of arguments");
                    }
                    let data = match &args[0] {
                        Value::String(s) => s.as_bytes().to_vec(),
                        Value::Integer(i) => i.to_string().into_bytes(),
                        Value::Number(n) => cjson::fmt_g(*n, 14).into_bytes(),
                        _ => Vec::new(),
                    };
                    Ok((true, Value::String(lua.create_string(sha1_hex(&data))?)))
                })?,
            ),
            (
                "error_reply",
                lua.create_function(|lua, args: Variadic<Value>| {
                    let t = match (args.len(), args.first()) {
                        (1, Some(Value::String(s))) => {
                            let s = s.to_string_lossy();
                            let s = if s.starts_with('-') { s } else { format!("-{s}") };
                            error_table(lua, &s)?
                        }
                        _ => error_table(lua, "wrong number or type of arguments")?,
                    };
                    Ok((true, Value::Table(t)))
                })?,
            ),
            (
                "status_reply",
                lua.create_function(|lua, args: Variadic<Value>| {
                    let t = match (args.len(), args.first()) {
                        (1, Some(Value::String(s))) => {
                            let t = lua.create_table()?;
                            t.raw_set("ok", s.clone())?;
                            t
                        }
                        _ => error_table(lua, "wrong number or type of arguments")?,
                    };
                    Ok((true, Value::Table(t)))
                })?,
            ),
            (
                "log",
                lua.create_function(|lua, args: Variadic<Value>| {
                    if args.len() < 2 {
                        return raise_table(lua, "redis.log() requires two arguments or more.");
                    }
                    let level = match &args[0] {
                        Value::Integer(i) => *i as f64,
                        Value::Number(n) => *n,
                        Value::String(s) => match s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()) {
                            Some(n) => n,
                            None => return raise_table(lua, "First argument must be a number (log level)."),
                        },
                        _ => return raise_table(lua, "First argument must be a number (log level)."),
                    };
                    if !(0.0..=3.0).contains(&level) || level.is_nan() {
                        return raise_table(lua, "Invalid debug level.");
                    }
                    let mut msg = String::new();
                    for (i, a) in args.iter().skip(1).enumerate() {
                        if i > 0 {
                            msg.push(' ');
                        }
                        if let Value::String(s) = a {
                            msg.push_str(&s.to_string_lossy());
                        } else if let Some(n) = as_number(a) {
                            msg.push_str(&cjson::fmt_g(n, 14));
                        }
                    }
                    tracing::info!(target: "rhea::script", "{msg}");
                    Ok((true, Value::Nil))
                })?,
            ),
            ("setresp", {
                let resp3 = resp3.clone();
                lua.create_function(move |lua, args: Variadic<Value>| {
                    if args.len() != 1 {
                        return raise_table(lua, "redis.setresp() requires one argument.");
                    }
                    match args.first().and_then(as_number) {
                        Some(n) if n as i64 == 2 || n as i64 == 3 => {
                            resp3.store(n as i64 == 3, Ordering::Relaxed);
                            Ok((true, Value::Nil))
                        }
                        _ => raise_table(lua, "RESP version must be 2 or 3."),
                    }
                })?
            }),
            (
                "set_repl",
                lua.create_function(|lua, args: Variadic<Value>| {
                    if args.len() != 1 {
                        return raise_table(lua, "redis.set_repl() requires one argument.");
                    }
                    match args.first().and_then(as_number) {
                        Some(n) if (n as i64) & !3 == 0 => Ok((true, Value::Nil)),
                        _ => raise_table(
                            lua,
                            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                        ),
                    }
                })?,
            ),
            ("replicate_commands", lua.create_function(|_, _: Variadic<Value>| Ok((true, Value::Boolean(true))))?),
            ("breakpoint", lua.create_function(|_, _: Variadic<Value>| Ok((true, Value::Boolean(false))))?),
            ("debug", lua.create_function(|_, _: Variadic<Value>| Ok((true, Value::Nil)))?),
        ];
        for (name, f) in fns {
            redis.raw_set(name, wrap(&lua, f)?)?;
        }
        redis.raw_set(
            "acl_check_cmd",
            wrap(
                &lua,
                lua.create_function(|lua, args: Variadic<Value>| {
                    let name = match args.first() {
                        Some(Value::String(s)) => s.as_bytes().to_vec(),
                        _ => return raise_table(lua, "Please specify at least one argument for this redis lib call"),
                    };
                    let argv = vec![Bytes::from(name)];
                    if CommandTable::get().resolve(&argv).is_err() {
                        return raise_table(lua, "Invalid command passed to redis.acl_check_cmd()");
                    }
                    Ok((true, Value::Boolean(true)))
                })?,
            )?,
        )?;

        let xpcall: Function = globals.raw_get("xpcall")?;
        let handler_status = status.clone();
        let handler = lua.create_function(move |lua, err: Value| {
            let t = match err {
                Value::Table(t) => t,
                Value::Error(_) if handler_status.kill.load(Ordering::Acquire) => error_table(lua, KILLED)?,
                Value::Error(e) => {
                    let msg = match find_script_err(&e) {
                        Some(ScriptErr::Table(m)) => m.clone(),
                        Some(ScriptErr::Str(m)) => format!("ERR {m}"),
                        None => format!("ERR {}", root_message(&e)),
                    };
                    let t = lua.create_table()?;
                    t.raw_set("err", msg)?;
                    t
                }
                other => {
                    let tostring: Function = lua.globals().raw_get("tostring")?;
                    let s: String = tostring.call::<mlua::String>(other)?.to_string_lossy();
                    let t = lua.create_table()?;
                    t.raw_set("err", format!("ERR {s}"))?;
                    t
                }
            };
            let mut level = 1;
            while let Some(d) = lua.inspect_stack(level) {
                let src = d.source();
                if src.what == "C" || src.source.as_deref() == Some(INTERNAL) {
                    level += 1;
                    if level > 50 {
                        break;
                    }
                    continue;
                }
                if let Some(s) = src.source.as_deref() {
                    t.raw_set("source", s)?;
                }
                t.raw_set("line", d.curr_line())?;
                break;
            }
            Ok(t)
        })?;

        let hook_status = status;
        lua.set_hook(HookTriggers::new().every_nth_instruction(1000), move |_, _| {
            if hook_status.kill.load(Ordering::Acquire) {
                Err(mlua::Error::RuntimeError(KILLED.into()))
            } else {
                Ok(VmState::Continue)
            }
        });

        Ok(Engine { lua, scripts: HashMap::default(), globals, env, redis, xpcall, handler, resp3, rand })
    }

    /// Compiles a script body, caching it; the error text is Redis's.
    fn compile(&mut self, sha: &str, body: &[u8]) -> Result<Function, CmdError> {
        if let Some(f) = self.scripts.get(sha) {
            return Ok(f.clone());
        }
        let chunk = self.lua.load(body).set_name("@user_script").set_environment(self.env.clone());
        match chunk.into_function() {
            Ok(f) => {
                self.scripts.insert(sha.to_string(), f.clone());
                Ok(f)
            }
            Err(e) => {
                let msg = match &e {
                    mlua::Error::SyntaxError { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                Err(CmdError::err(format!("Error compiling script (new function): {msg}")))
            }
        }
    }

    fn run(&mut self, ctx: &mut Ctx, sha: &str, func: Function, keys: &[Bytes], args: &[Bytes], ro: bool) -> CmdResult {
        let lua = &self.lua;
        let list = |items: &[Bytes]| -> mlua::Result<Table> {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, a) in items.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(a)?)?;
            }
            Ok(t)
        };
        self.globals.raw_set("KEYS", list(keys).map_err(lua_err)?).map_err(lua_err)?;
        self.globals.raw_set("ARGV", list(args).map_err(lua_err)?).map_err(lua_err)?;
        srand48(&self.rand, ctx.rng.i32(..));
        self.resp3.store(false, Ordering::Relaxed);

        let status = ctx.shared.scripting.status.clone();
        status.kill.store(false, Ordering::Release);
        status.wrote.store(false, Ordering::Release);
        status.started_ms.store(crate::shared::now_ms(), Ordering::Release);
        status.running.store(true, Ordering::Release);

        let saved_db = ctx.client.db;
        let saved_in_exec = ctx.client.in_exec;
        ctx.client.in_exec = true;
        let saved_in_script = std::mem::replace(&mut ctx.client.in_script, true);
        let wrote = Cell::new(false);
        let resp3 = self.resp3.clone();
        let result = {
            let cell = RefCell::new(&mut *ctx);
            let (redis, xpcall, handler) = (&self.redis, &self.xpcall, &self.handler);
            lua.scope(|scope| {
                let call = scope.create_function(|lua, argv: Variadic<Value>| {
                    let mut c = cell.try_borrow_mut().map_err(|_| mlua::Error::RecursiveMutCallback)?;
                    match call_command(lua, &mut c, &argv, ro, &resp3, &wrote, &status)? {
                        Ok(v) => Ok(v),
                        Err(t) => Err(raise(lua, Value::Table(t))),
                    }
                })?;
                let pcall = scope.create_function(|lua, argv: Variadic<Value>| {
                    let mut c = cell.try_borrow_mut().map_err(|_| mlua::Error::RecursiveMutCallback)?;
                    match call_command(lua, &mut c, &argv, ro, &resp3, &wrote, &status)? {
                        Ok(v) => Ok(v),
                        Err(t) => Ok(Value::Table(t)),
                    }
                })?;
                redis.raw_set("call", call)?;
                redis.raw_set("pcall", pcall)?;
                let r = xpcall.call::<MultiValue>((func, handler.clone()));
                redis.raw_set("call", Value::Nil)?;
                redis.raw_set("pcall", Value::Nil)?;
                r
            })
        };
        status.running.store(false, Ordering::Release);
        status.kill.store(false, Ordering::Release);
        ctx.client.in_exec = saved_in_exec;
        ctx.client.in_script = saved_in_script;
        if ctx.client.db != saved_db {
            ctx.client.select(saved_db);
        }
        let values = result.map_err(lua_err)?;
        let mut it = values.into_iter();
        let ok = matches!(it.next(), Some(Value::Boolean(true)));
        let v = it.next().unwrap_or(Value::Nil);
        if ok {
            let script_resp3 = self.resp3.load(Ordering::Relaxed);
            reply_from_lua(ctx.out, &v, script_resp3, 0).map_err(lua_err)?;
        } else {
            let msg = match &v {
                Value::Table(t) => {
                    let err = match t.raw_get::<Value>("err").map_err(lua_err)? {
                        Value::String(s) => s.to_string_lossy(),
                        _ => "ERR unknown error".to_string(),
                    };
                    let source: Option<String> =
                        t.raw_get::<Option<mlua::String>>("source").ok().flatten().map(|s| s.to_string_lossy());
                    let line = t.raw_get::<Value>("line").ok().and_then(|l| as_number(&l));
                    match (source, line) {
                        (Some(s), Some(l)) => format!("{err} script: {sha}, on {s}:{}.", cjson::fmt_g(l, 14)),
                        _ => err,
                    }
                }
                _ => "ERR Error running script".to_string(),
            };
            ctx.out.error(&msg);
        }
        self.lua.gc_step().ok();
        Ok(())
    }
}

/// An error raised by the engine's Rust functions: a Redis error table
/// (its `err` text) or a Lua string error (position included).
#[derive(Debug)]
enum ScriptErr {
    Table(String),
    Str(String),
}

impl std::fmt::Display for ScriptErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScriptErr::Table(m) | ScriptErr::Str(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ScriptErr {}

fn find_script_err(e: &mlua::Error) -> Option<&ScriptErr> {
    match e {
        mlua::Error::CallbackError { cause, .. } => find_script_err(cause),
        other => other.downcast_ref::<ScriptErr>(),
    }
}

/// luaL_where(L, 1) as seen from a Rust function: "src:line: " when its
/// caller is Lua code, "" when it is a C function (pcall).
fn lua_where(lua: &Lua) -> String {
    match lua.inspect_stack(1) {
        Some(d) if d.curr_line() > 0 => {
            let src = d.source();
            format!("{}:{}: ", src.short_src.as_deref().unwrap_or("?"), d.curr_line())
        }
        _ => String::new(),
    }
}

/// Turns a (false, error) result of an engine function into the Lua error
/// to raise: tables are Redis error tables, strings get luaL_error's
/// position.
fn raise(lua: &Lua, v: Value) -> mlua::Error {
    let e = match v {
        Value::Table(t) => ScriptErr::Table(match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.to_string_lossy(),
            _ => String::new(),
        }),
        Value::String(s) => ScriptErr::Str(format!("{}{}", lua_where(lua), s.to_string_lossy())),
        _ => ScriptErr::Str(lua_where(lua)),
    };
    mlua::Error::external(e)
}

/// Makes a Lua function from an engine function returning (ok, value).
fn wrap(lua: &Lua, f: Function) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let (ok, v): (bool, Value) = f.call(args)?;
        if ok {
            Ok(v)
        } else {
            Err(raise(lua, v))
        }
    })
}

/// What Redis's pcall returns for an error: the text of an error table.
fn pcall_error(lua: &Lua, e: Value, status: &ScriptStatus) -> mlua::Result<Value> {
    let text = match &e {
        // A killed script must not catch its own kill: raise it again.
        _ if status.kill.load(Ordering::Acquire) => return Err(mlua::Error::RuntimeError(KILLED.into())),
        Value::Error(err) => match find_script_err(err) {
            Some(ScriptErr::Table(m)) | Some(ScriptErr::Str(m)) => m.clone(),
            None => root_message(err),
        },
        Value::Table(t) => match t.raw_get::<Value>("err")? {
            Value::String(s) => return Ok(Value::String(s)),
            _ => return Ok(e),
        },
        _ => return Ok(e),
    };
    Ok(Value::String(lua.create_string(&text)?))
}

/// The message of a Rust-raised error without mlua's decorations.
fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()),
        _ => None,
    }
}

pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// `redis.call`/`redis.pcall`: Ok(reply) or Err(error table) — the
/// mlua::Result is for interpreter failures only.
fn call_command(
    lua: &Lua,
    ctx: &mut Ctx,
    args: &[Value],
    ro: bool,
    resp3: &AtomicBool,
    wrote: &Cell<bool>,
    status: &ScriptStatus,
) -> mlua::Result<Result<Value, Table>> {
    if args.is_empty() {
        return Ok(Err(error_table(lua, "Please specify at least one argument for this redis lib call")?));
    }
    let mut argv = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => argv.push(Bytes::from(i.to_string())),
            Value::Number(n) => argv.push(Bytes::from(fmt_double(*n))),
            _ => return Ok(Err(error_table(lua, "Lua redis lib command arguments must be strings or integers")?)),
        }
    }
    let Ok((cmd, sub)) = CommandTable::get().resolve(&argv) else {
        return Ok(Err(error_table(lua, "Unknown Redis command called from script")?));
    };
    let spec = sub.unwrap_or(cmd);
    if !spec.arity_ok(argv.len()) {
        return Ok(Err(error_table(lua, "Wrong number of args calling Redis command from script")?));
    }
    if spec.has(flags::NOSCRIPT) {
        return Ok(Err(error_table(lua, "This Redis command is not allowed from script")?));
    }
    // Redis's scriptVerifyOOM: a script that has not written yet may not
    // run a command that grows memory while memory is over the limit. Not
    // on a cluster node: there the script runs as an applied log entry on
    // every node, and one node's memory must not make its copy of the
    // script do something else (the proposer checked its own memory before
    // proposing, see `dispatch::refuse_for_memory`), as a Redis replica
    // never refuses its master's script.
    if spec.has(flags::DENYOOM)
        && !wrote.get()
        && ctx.shared.cluster.get().is_none()
        && crate::memory::over_limit(ctx.shared)
    {
        return Ok(Err(error_table(lua, &format!("-{}", crate::memory::OOM_ERROR))?));
    }
    if spec.is_write() {
        if ro {
            return Ok(Err(error_table(lua, "Write commands are not allowed from read-only scripts.")?));
        }
        wrote.set(true);
        status.wrote.store(true, Ordering::Release);
    }
    let mut tmp = Out::new(resp3.load(Ordering::Relaxed));
    std::mem::swap(ctx.out, &mut tmp);
    crate::dispatch::run_checked(ctx, &argv);
    std::mem::swap(ctx.out, &mut tmp);
    let bytes = tmp.buf;
    let mut pos = 0;
    if bytes.first() == Some(&b'-') {
        let end = bytes.iter().position(|&c| c == b'\r').unwrap_or(bytes.len());
        let t = error_table(lua, &String::from_utf8_lossy(&bytes[..end]))?;
        t.raw_set("ignore_error_stats_update", true)?;
        return Ok(Err(t));
    }
    Ok(Ok(lua_from_reply(lua, &bytes, &mut pos, 0)?))
}

fn resp_line<'a>(b: &'a [u8], pos: &mut usize) -> mlua::Result<&'a [u8]> {
    let start = *pos;
    let rest = b.get(start..).unwrap_or(&[]);
    let end =
        rest.windows(2).position(|w| w == b"\r\n").ok_or_else(|| mlua::Error::RuntimeError("bad reply".into()))?;
    *pos = start + end + 2;
    Ok(&rest[..end])
}

fn resp_int(line: &[u8]) -> i64 {
    rhea_resp::parse_i64(line).unwrap_or(0)
}

/// Converts one RESP reply (as Redis's `redisProtocolToLuaType`).
fn lua_from_reply(lua: &Lua, b: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > 1000 {
        return Err(mlua::Error::RuntimeError("reply nesting too deep".into()));
    }
    let Some(&kind) = b.get(*pos) else { return Ok(Value::Nil) };
    *pos += 1;
    let line = resp_line(b, pos)?;
    let single = |lua: &Lua, key: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(key, v)?;
        Ok(Value::Table(t))
    };
    Ok(match kind {
        b':' => Value::Number(resp_int(line) as f64),
        b'+' => single(lua, "ok", Value::String(lua.create_string(line)?))?,
        b'-' => Value::Table(error_table(lua, &String::from_utf8_lossy(line))?),
        b'$' | b'=' => {
            let n = resp_int(line);
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let data = b.get(*pos..*pos + n as usize).unwrap_or(&[]);
            *pos += n as usize + 2;
            if kind == b'=' {
                let t = lua.create_table()?;
                let (fmt, text) = if data.len() >= 4 { (&data[..3], &data[4..]) } else { (&b""[..], data) };
                t.raw_set("format", lua.create_string(fmt)?)?;
                t.raw_set("string", lua.create_string(text)?)?;
                single(lua, "verbatim_string", Value::Table(t))?
            } else {
                Value::String(lua.create_string(data)?)
            }
        }
        b'*' | b'>' => {
            let n = resp_int(line);
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table()?;
            for i in 0..n {
                t.raw_set(i + 1, lua_from_reply(lua, b, pos, depth + 1)?)?;
            }
            Value::Table(t)
        }
        b'%' => {
            let t = lua.create_table()?;
            for _ in 0..resp_int(line) {
                let k = lua_from_reply(lua, b, pos, depth + 1)?;
                let v = lua_from_reply(lua, b, pos, depth + 1)?;
                t.raw_set(k, v)?;
            }
            single(lua, "map", Value::Table(t))?
        }
        b'~' => {
            let t = lua.create_table()?;
            for _ in 0..resp_int(line) {
                let k = lua_from_reply(lua, b, pos, depth + 1)?;
                t.raw_set(k, true)?;
            }
            single(lua, "set", Value::Table(t))?
        }
        b',' => {
            let d = rhea_resp::parse_f64(line).unwrap_or(match line {
                b"inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                _ => f64::NAN,
            });
            single(lua, "double", Value::Number(d))?
        }
        b'#' => Value::Boolean(line == b"t"),
        b'_' => Value::Nil,
        b'(' => single(lua, "big_number", Value::String(lua.create_string(line)?))?,
        _ => Value::Nil,
    })
}

/// `(long long)` of a Lua number as x86 does it: out of range → i64::MIN.
fn lua_to_i64(n: f64) -> i64 {
    // 2^63: the first double out of i64's range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// Writes a script's result (Redis's `luaReplyToRedisReply`).
fn reply_from_lua(out: &mut Out, v: &Value, script_resp3: bool, depth: usize) -> mlua::Result<()> {
    if depth > 1000 {
        out.error("ERR reached lua stack limit");
        return Ok(());
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp3 {
                out.boolean(*b)
            } else if *b {
                out.int(1)
            } else {
                out.null()
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(lua_to_i64(*n)),
        Value::Table(t) => {
            if let Value::String(e) = t.raw_get::<Value>("err")? {
                out.error(&e.to_string_lossy());
                return Ok(());
            }
            if let Value::String(s) = t.raw_get::<Value>("ok")? {
                out.simple(&s.to_string_lossy());
                return Ok(());
            }
            if let Some(d) = match t.raw_get::<Value>("double")? {
                Value::Number(n) => Some(n),
                Value::Integer(i) => Some(i as f64),
                _ => None,
            } {
                out.double(d);
                return Ok(());
            }
            if let Value::String(s) = t.raw_get::<Value>("big_number")? {
                let text: Vec<u8> =
                    s.as_bytes().iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }).collect();
                if out.resp3 {
                    out.raw(b"(");
                    out.raw(&text);
                    out.raw(b"\r\n");
                } else {
                    out.bulk(&text);
                }
                return Ok(());
            }
            if let Value::Table(vt) = t.raw_get::<Value>("verbatim_string")? {
                if let (Value::String(f), Value::String(s)) =
                    (vt.raw_get::<Value>("format")?, vt.raw_get::<Value>("string")?)
                {
                    out.verbatim(&f.to_string_lossy(), &s.as_bytes());
                    return Ok(());
                }
            }
            if let Value::Table(m) = t.raw_get::<Value>("map")? {
                let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
                out.map(pairs.len());
                for (k, v) in &pairs {
                    reply_from_lua(out, k, script_resp3, depth + 1)?;
                    reply_from_lua(out, v, script_resp3, depth + 1)?;
                }
                return Ok(());
            }
            if let Value::Table(s) = t.raw_get::<Value>("set")? {
                let keys: Vec<Value> =
                    s.pairs::<Value, Value>().map(|p| p.map(|(k, _)| k)).collect::<mlua::Result<_>>()?;
                out.set(keys.len());
                for k in &keys {
                    reply_from_lua(out, k, script_resp3, depth + 1)?;
                }
                return Ok(());
            }
            let mut items = Vec::new();
            loop {
                let v: Value = t.raw_get(items.len() + 1)?;
                if v.is_nil() {
                    break;
                }
                items.push(v);
            }
            out.array(items.len());
            for v in &items {
                reply_from_lua(out, v, script_resp3, depth + 1)?;
            }
        }
        _ => out.null(),
    }
    Ok(())
}

/// EVAL / EVALSHA / EVAL_RO / EVALSHA_RO.
pub fn eval(ctx: &mut Ctx, argv: &[Bytes], by_sha: bool, ro: bool) -> CmdResult {
    let noscript = || CmdError::Other("NOSCRIPT No matching script. Please use EVAL.".into());
    if by_sha && argv[1].len() != 40 {
        return Err(noscript());
    }
    let numkeys = crate::families::arg_i64(&argv[2])?;
    if numkeys > argv.len() as i64 - 3 {
        return Err(CmdError::err("Number of keys can't be greater than number of args"));
    }
    if numkeys < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    let split = 3 + numkeys as usize;
    let shared = ctx.shared;
    let mut guard = shared.scripting.engine.lock();
    if guard.is_none() {
        *guard = Some(Engine::new(shared.scripting.status.clone()).map_err(lua_err)?);
    }
    let Some(engine) = guard.as_mut() else { return Err(CmdError::err("scripting unavailable")) };
    let (sha, func) = if by_sha {
        let sha = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        match engine.scripts.get(&sha) {
            Some(f) => (sha, f.clone()),
            None => return Err(noscript()),
        }
    } else {
        let sha = sha1_hex(&argv[1]);
        let f = engine.compile(&sha, &argv[1])?;
        (sha, f)
    };
    off_runtime(|| engine.run(ctx, &sha, func, &argv[3..split], &argv[split..], ro))
}

/// Runs a script off the async scheduler: a long script would otherwise
/// hold a worker, and the connections queued on it (SCRIPT KILL, clients
/// to answer BUSY) could not run.
fn off_runtime<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// SCRIPT LOAD: the SHA1, the script compiled and cached.
pub fn load(ctx: &mut Ctx, body: &[u8]) -> Result<String, CmdError> {
    let shared = ctx.shared;
    let mut guard = shared.scripting.engine.lock();
    if guard.is_none() {
        *guard = Some(Engine::new(shared.scripting.status.clone()).map_err(lua_err)?);
    }
    let Some(engine) = guard.as_mut() else { return Err(CmdError::err("scripting unavailable")) };
    let sha = sha1_hex(body);
    engine.compile(&sha, body)?;
    Ok(sha)
}

/// SCRIPT EXISTS for one SHA1.
pub fn exists(ctx: &Ctx, sha: &[u8]) -> bool {
    let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
    ctx.shared.scripting.engine.lock().as_ref().is_some_and(|e| e.scripts.contains_key(&sha))
}

/// Locks the store for a request; while a script has run longer than
/// busy-reply-threshold, answers BUSY instead of waiting (SCRIPT KILL and
/// SHUTDOWN NOSAVE act on the script). None: the reply is already written.
pub fn lock_store<'a>(
    shared: &'a crate::Shared,
    cmd: &crate::table::CommandSpec,
    sub: Option<&crate::table::CommandSpec>,
    argv: &[Bytes],
    out: &mut Out,
) -> Option<parking_lot::MutexGuard<'a, rhea_store::Store>> {
    loop {
        if let Some(g) = shared.store.try_lock_for(std::time::Duration::from_millis(10)) {
            return Some(g);
        }
        let status = &shared.scripting.status;
        let threshold = shared.config.read().busy_reply_threshold;
        if !status.busy(crate::shared::now_ms(), threshold) {
            continue;
        }
        if cmd.name == "script" && sub.is_some_and(|s| s.name == "kill") {
            match status.request_kill() {
                Ok(()) => out.ok(),
                Err(e) => out.error(e),
            }
            return None;
        }
        if cmd.name == "shutdown" && argv[1..].iter().any(|a| a.eq_ignore_ascii_case(b"nosave")) {
            status.force_kill();
            continue;
        }
        out.error("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
        return None;
    }
}
