//! The ref-counted declaration table: what one side declared to the other, by key, with
//! the id each key was declared under and how many sources want it.
//!
//! One type serves every kind: the subscriptions and queryables a face was told of
//! (several sources, one declaration), the tokens it was told of, the key-expression
//! ids declared to it, and the publishers' keys of this session. The table only counts
//! and hands out ids; the caller sends the declaration when [`DeclTable::acquire`]
//! says a key is new, and the undeclaration when [`DeclTable::release`] says it is
//! gone.

use std::collections::HashMap;
use std::hash::Hash;

/// Keys declared under an id of type `I`, each with how many sources want it.
pub(super) struct DeclTable<K, I = u32> {
    entries: HashMap<K, (I, usize)>,
}

impl<K, I> Default for DeclTable<K, I> {
    fn default() -> Self {
        DeclTable {
            entries: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone, I: Copy> DeclTable<K, I> {
    /// Counts one more source for `key`. The first one declares it, under the id that
    /// `new_id` gives, and returns that id (the caller sends the declaration); `new_id`
    /// returning `None` (no id left) leaves the key undeclared.
    pub(super) fn acquire(&mut self, key: &K, new_id: impl FnOnce() -> Option<I>) -> Option<I> {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.1 += 1;
            return None;
        }
        let id = new_id()?;
        self.entries.insert(key.clone(), (id, 1));
        Some(id)
    }

    /// Counts one source less for `key`. The last one undeclares it and returns its id
    /// (the caller sends the undeclaration).
    pub(super) fn release(&mut self, key: &K) -> Option<I> {
        let entry = self.entries.get_mut(key)?;
        entry.1 -= 1;
        if entry.1 > 0 {
            return None;
        }
        self.entries.remove(key).map(|(id, _)| id)
    }

    /// Undeclares `key` whatever its count; returns its id if it was declared.
    pub(super) fn remove(&mut self, key: &K) -> Option<I> {
        self.entries.remove(key).map(|(id, _)| id)
    }

    /// The id `key` is declared under.
    pub(super) fn id(&self, key: &K) -> Option<I> {
        self.entries.get(key).map(|(id, _)| *id)
    }

    /// How many sources want a declared key, over every key.
    pub(super) fn sources(&self) -> usize {
        self.entries.values().map(|(_, n)| n).sum()
    }

    /// The declared keys.
    pub(super) fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.keys()
    }

    /// Forgets every declaration (the other side went away).
    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::DeclTable;

    #[test]
    fn the_first_source_declares_and_the_last_undeclares() {
        let mut t: DeclTable<&str> = DeclTable::default();
        let mut next = 0;
        let mut id = || {
            next += 1;
            Some(next)
        };
        assert_eq!(t.acquire(&"a", &mut id), Some(1));
        assert_eq!(
            t.acquire(&"a", &mut id),
            None,
            "counted, not declared again"
        );
        assert_eq!(t.acquire(&"b", &mut id), Some(2));
        assert_eq!(t.id(&"a"), Some(1));
        assert_eq!(t.sources(), 3);
        assert_eq!(t.release(&"a"), None, "one source is left");
        assert_eq!(t.release(&"a"), Some(1));
        assert_eq!(t.release(&"a"), None, "not declared any more");
        assert_eq!(t.remove(&"b"), Some(2));
        assert_eq!(t.keys().count(), 0);
    }

    #[test]
    fn no_id_left_means_not_declared() {
        let mut t: DeclTable<&str, u16> = DeclTable::default();
        assert_eq!(t.acquire(&"a", || None), None);
        assert_eq!(t.id(&"a"), None);
        assert_eq!(t.keys().count(), 0);
    }
}
