//! Lists and dicts that templates can change in place, as Jinja2 templates
//! change Python's: `{% set x = [] %}{% set _ = x.append(1) %}`.
//!
//! minijinja's own sequences and maps are immutable, so the list and dict
//! literals of a template are handed to it as these objects instead (see
//! `literals`), and so are the results of `|list`, `|sort`, `dict()` and
//! `str.split()`. They iterate, index, compare, test and render exactly as
//! minijinja's own values do; dicts keep insertion order, as Python's do.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use indexmap::IndexMap;
use minijinja::value::{from_args, DynObject, Enumerator, Kwargs, Object, ObjectRepr, Tuple};
use minijinja::{Error, ErrorKind, State, Value};

/// A Python list.
#[derive(Debug, Default)]
pub(crate) struct List(Mutex<Vec<Value>>);

/// A Python dict.
#[derive(Debug, Default)]
pub(crate) struct Dict(Mutex<IndexMap<Value, Value>>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding the lock; a poisoned one still holds
    // consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Python's index normalisation: negative counts from the end.
fn normalise(index: i64, len: usize) -> Option<usize> {
    if index < 0 {
        len.checked_sub(usize::try_from(index.unsigned_abs()).ok()?)
    } else {
        usize::try_from(index).ok()
    }
}

impl List {
    /// A changeable list holding `items`.
    pub(crate) fn value(items: Vec<Value>) -> Value {
        Value::from_object(List(Mutex::new(items)))
    }

    fn items(&self) -> Vec<Value> {
        lock(&self.0).clone()
    }

    /// Python's list methods.
    fn call(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "append" => {
                let (item,): (Value,) = from_args(args)?;
                self.refuse_cycle(&item)?;
                lock(&self.0).push(item);
                Ok(Value::from(()))
            }
            "extend" => self.extend(state, args),
            "insert" => self.insert(args),
            "pop" => self.pop(args),
            "remove" => self.remove(args),
            "index" => {
                let (item,): (Value,) = from_args(args)?;
                self.items()
                    .iter()
                    .position(|v| *v == item)
                    .map(Value::from)
                    .ok_or_else(|| invalid(format!("{item:?} is not in list")))
            }
            "clear" => {
                let () = from_args(args)?;
                lock(&self.0).clear();
                Ok(Value::from(()))
            }
            "reverse" => {
                let () = from_args(args)?;
                lock(&self.0).reverse();
                Ok(Value::from(()))
            }
            "sort" => self.sort(args),
            "copy" => {
                let () = from_args(args)?;
                Ok(List::value(self.items()))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    /// `extend(items)`.
    fn extend(self: &Arc<Self>, state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let (items,): (Value,) = from_args(args)?;
        let mut new = Vec::new();
        for item in items.try_iter()? {
            state.consume_fuel(1)?;
            self.refuse_cycle(&item)?;
            new.push(item);
        }
        lock(&self.0).extend(new);
        Ok(Value::from(()))
    }

    /// `insert(index, item)`.
    fn insert(self: &Arc<Self>, args: &[Value]) -> Result<Value, Error> {
        let (index, item): (i64, Value) = from_args(args)?;
        self.refuse_cycle(&item)?;
        let mut items = lock(&self.0);
        // Python clamps the position to the list.
        let at = normalise(index, items.len()).unwrap_or(0).min(items.len());
        items.insert(at, item);
        Ok(Value::from(()))
    }

    /// `pop([index])`.
    fn pop(&self, args: &[Value]) -> Result<Value, Error> {
        let (index,): (Option<i64>,) = from_args(args)?;
        let mut items = lock(&self.0);
        if items.is_empty() {
            return Err(invalid("pop from empty list"));
        }
        let at = normalise(index.unwrap_or(-1), items.len())
            .filter(|&i| i < items.len())
            .ok_or_else(|| invalid("pop index out of range"))?;
        Ok(items.remove(at))
    }

    /// `remove(item)`: its first occurrence.
    fn remove(&self, args: &[Value]) -> Result<Value, Error> {
        let (item,): (Value,) = from_args(args)?;
        let at = self
            .items()
            .iter()
            .position(|v| *v == item)
            .ok_or_else(|| invalid(format!("list.remove(x): {item:?} is not in list")))?;
        let mut items = lock(&self.0);
        if at < items.len() {
            items.remove(at);
        }
        Ok(Value::from(()))
    }

    /// `sort(reverse=False)`.
    fn sort(&self, args: &[Value]) -> Result<Value, Error> {
        let (kwargs,): (Kwargs,) = from_args(args)?;
        let reverse = kwargs.get::<Option<bool>>("reverse")?.unwrap_or(false);
        kwargs.assert_all_used()?;
        let mut items = self.items();
        items.sort();
        if reverse {
            items.reverse();
        }
        *lock(&self.0) = items;
        Ok(Value::from(()))
    }

    fn refuse_cycle(self: &Arc<Self>, item: &Value) -> Result<(), Error> {
        refuse_cycle(Arc::as_ptr(self) as *const (), item, "list")
    }
}

impl Object for List {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        lock(&self.0).get(key.as_usize()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.items())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.0).len())
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        self.call(state, method, args)
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        let other = other.downcast_ref::<Self>()?;
        Some(self.items().cmp(&other.items()))
    }
}

impl Dict {
    /// A changeable dict holding `pairs`, in their order.
    pub(crate) fn value(pairs: impl IntoIterator<Item = (Value, Value)>) -> Value {
        Value::from_object(Dict(Mutex::new(pairs.into_iter().collect())))
    }

    fn pairs(&self) -> Vec<(Value, Value)> {
        lock(&self.0)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Python's `dict.update(other, **kwargs)`.
    fn update_from(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        other: Option<&Value>,
        kwargs: Option<&Kwargs>,
    ) -> Result<(), Error> {
        let mut new = Vec::new();
        if let Some(other) = other.filter(|v| !v.is_undefined() && !v.is_none()) {
            new = pairs_of(state, other)?;
        }
        if let Some(kwargs) = kwargs {
            for name in kwargs.args() {
                new.push((Value::from(name), kwargs.get::<Value>(name)?));
            }
        }
        for (k, v) in &new {
            self.refuse_cycle(k)?;
            self.refuse_cycle(v)?;
        }
        lock(&self.0).extend(new);
        Ok(())
    }

    fn call(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "update" => {
                let (other, kwargs): (Option<Value>, Kwargs) = from_args(args)?;
                self.update_from(state, other.as_ref(), Some(&kwargs))?;
                Ok(Value::from(()))
            }
            "setdefault" => {
                let (key, default): (Value, Option<Value>) = from_args(args)?;
                if let Some(v) = lock(&self.0).get(&key) {
                    return Ok(v.clone());
                }
                let default = default.unwrap_or(Value::from(()));
                self.refuse_cycle(&key)?;
                self.refuse_cycle(&default)?;
                Ok(lock(&self.0).entry(key).or_insert(default).clone())
            }
            "pop" => {
                let (key, default): (Value, Option<Value>) = from_args(args)?;
                match (lock(&self.0).shift_remove(&key), default) {
                    (Some(v), _) | (None, Some(v)) => Ok(v),
                    (None, None) => Err(invalid(format!("dict.pop(): no key {key:?}"))),
                }
            }
            "popitem" => {
                let () = from_args(args)?;
                lock(&self.0)
                    .pop()
                    .map(|(k, v)| Value::from(Tuple::from([k, v])))
                    .ok_or_else(|| invalid("popitem(): dictionary is empty"))
            }
            "clear" => {
                let () = from_args(args)?;
                lock(&self.0).clear();
                Ok(Value::from(()))
            }
            "copy" => {
                let () = from_args(args)?;
                Ok(Dict::value(self.pairs()))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn refuse_cycle(self: &Arc<Self>, item: &Value) -> Result<(), Error> {
        refuse_cycle(Arc::as_ptr(self) as *const (), item, "dict")
    }
}

impl Object for Dict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        lock(&self.0).get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(lock(&self.0).keys().cloned().collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.0).len())
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        self.call(state, method, args)
    }
}

/// The pairs of a map, or of a sequence of two-item sequences (what Python's
/// `dict()` and `dict.update()` accept).
fn pairs_of(state: &State<'_, '_>, value: &Value) -> Result<Vec<(Value, Value)>, Error> {
    let mut pairs = Vec::new();
    if let Some(obj) = value.as_object().filter(|o| o.repr() == ObjectRepr::Map) {
        for (k, v) in obj.try_iter_pairs().into_iter().flatten() {
            state.consume_fuel(1)?;
            pairs.push((k, v));
        }
        return Ok(pairs);
    }
    for item in value.try_iter()? {
        state.consume_fuel(1)?;
        let pair: Vec<Value> = item.try_iter()?.collect();
        match <[Value; 2]>::try_from(pair) {
            Ok([k, v]) => pairs.push((k, v)),
            Err(pair) => {
                return Err(invalid(format!(
                    "dictionary update sequence element {item:?} has length {}; 2 is required",
                    pair.len()
                )))
            }
        }
    }
    Ok(pairs)
}

/// Whether `value` is, or holds, the object at `target`. Looks into the
/// changeable containers and minijinja's own lists, tuples and maps, the
/// only ways a template can nest one value in another; without recursion,
/// as nesting made in a loop can be deep.
fn reaches(value: &Value, target: *const ()) -> bool {
    let mut seen: HashSet<*const ()> = HashSet::new();
    let mut todo = vec![value.clone()];
    while let Some(value) = todo.pop() {
        let Some(obj) = value.as_object() else {
            continue;
        };
        if let Some(list) = obj.downcast_ref::<List>() {
            let p = list as *const List as *const ();
            if p == target {
                return true;
            }
            if seen.insert(p) {
                todo.extend(list.items());
            }
        } else if let Some(dict) = obj.downcast_ref::<Dict>() {
            let p = dict as *const Dict as *const ();
            if p == target {
                return true;
            }
            if seen.insert(p) {
                todo.extend(dict.pairs().into_iter().flat_map(|(k, v)| [k, v]));
            }
        } else if let Some(items) = obj.downcast_ref::<Vec<Value>>() {
            if seen.insert(items as *const Vec<Value> as *const ()) {
                todo.extend(items.iter().cloned());
            }
        } else if let Some(tuple) = obj.downcast_ref::<Tuple>() {
            if seen.insert(tuple as *const Tuple as *const ()) {
                todo.extend(tuple.clone().into_vec());
            }
        } else if let Some(map) = obj.downcast_ref::<BTreeMap<Value, Value>>() {
            if seen.insert(map as *const BTreeMap<Value, Value> as *const ()) {
                todo.extend(map.iter().flat_map(|(k, v)| [k.clone(), v.clone()]));
            }
        }
    }
    false
}

/// `|list`: a changeable list of the value's items.
pub(crate) fn list_filter(state: &State<'_, '_>, value: Value) -> Result<Value, Error> {
    let items = minijinja::filters::list(state, value)?;
    Ok(List::value(items.try_iter()?.collect()))
}

/// `|sort`: a changeable sorted list.
pub(crate) fn sort_filter(
    state: &State<'_, '_>,
    value: Value,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let items = minijinja::filters::sort(state, value, kwargs)?;
    Ok(List::value(items.try_iter()?.collect()))
}

/// `dict(...)`: a changeable dict, as Python's `dict(mapping_or_pairs, **kw)`.
pub(crate) fn dict_function(
    state: &State<'_, '_>,
    other: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let dict = Arc::new(Dict::default());
    dict.update_from(state, other.as_ref(), Some(&kwargs))?;
    Ok(Value::from_dyn_object(dict))
}

/// Builds a list literal: `[a, b]` is handed to the engine as a call of this
/// with the (immutable) list.
pub(crate) fn list_literal(items: Value) -> Result<Value, Error> {
    Ok(List::value(items.try_iter()?.collect()))
}

/// Builds a dict literal: `{k: v, …}` is handed to the engine as a call of
/// this with the flat list `[k, v, …]`.
pub(crate) fn dict_literal(flat: Value) -> Result<Value, Error> {
    let items: Vec<Value> = flat.try_iter()?.collect();
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        pairs.push((k, v));
    }
    Ok(Dict::value(pairs))
}

/// The names of the methods that change a list or dict in place.
pub(crate) const MUTATORS: &[&str] = &[
    "append",
    "extend",
    "insert",
    "pop",
    "remove",
    "clear",
    "reverse",
    "sort",
    "update",
    "setdefault",
    "popitem",
];

/// Refuses to put `item` inside the container at `me` (a `what`) when it
/// reaches it: a value inside itself could not be printed.
fn refuse_cycle(me: *const (), item: &Value, what: &str) -> Result<(), Error> {
    if reaches(item, me) {
        return Err(invalid(format!(
            "a {what} cannot be put inside itself (it could not be printed)"
        )));
    }
    Ok(())
}
