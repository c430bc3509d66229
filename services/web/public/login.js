// The login form. A successful login changes the session; app.js routes on that.
import { h, replaceChildren } from './elements.js'
import { login } from './session.js'

export function mountLogin(container, { message } = {}) {
  const error = h('p', { class: 'form-error', role: 'alert', id: 'login-error' })
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autofocus: true, maxlength: 128 })
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 1024 })
  const submit = h('button', { type: 'submit' }, 'Log in')
  const form = h('form', { class: 'login-form', 'aria-labelledby': 'login-title', novalidate: true },
    h('h1', { id: 'login-title' }, 'Log in to hostpulse'),
    message ? h('p', { class: 'muted', id: 'login-message' }, message) : null,
    h('label', { for: 'username' }, 'Username'), username,
    h('label', { for: 'password' }, 'Password'), password,
    submit, error)
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    error.textContent = ''
    if (!username.value.trim() || !password.value) {
      error.textContent = 'Enter your username and password.'
      return
    }
    submit.disabled = true
    submit.textContent = 'Logging in…'
    try {
      await login(username.value.trim(), password.value)
    } catch (err) {
      error.textContent = err.status === 401 ? 'Wrong username or password.' : err.message
      submit.disabled = false
      submit.textContent = 'Log in'
      password.select()
    }
  })
  replaceChildren(container, h('section', { class: 'login' }, form))
  username.focus()
  return () => {}
}
