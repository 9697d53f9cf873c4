// The home page: your workspaces, the boards of the selected one, and a form to create a board.
// Lists come from REST when online and from the cache (cache.js) when not.
import { h, replace } from './dom.js'
import * as api from './api.js'
import { recall, remember } from './cache.js'
import { Offline } from './auth.js'

export const renderHome = async (root, { workspaces, navigate, showError }) => {
  let selected = recall('workspace') ?? workspaces[0]?.id ?? null
  if (!workspaces.some((w) => w.id === selected)) selected = workspaces[0]?.id ?? null

  const workspaceList = h('ul', { testid: 'workspace-list', class: 'workspace-list', 'aria-label': 'Workspaces' })
  const boardList = h('ul', { testid: 'board-list', class: 'board-list', 'aria-label': 'Boards' })
  const name = h('input', { testid: 'new-board-name', placeholder: 'New board name', maxlength: 100, 'aria-label': 'New board name' })
  const submit = h('button', { testid: 'new-board-submit', class: 'primary', type: 'submit' }, 'Create board')
  const form = h('form', {
    class: 'new-board',
    onsubmit: async (e) => {
      e.preventDefault()
      if (!name.value.trim() || !selected) return
      submit.disabled = true
      try {
        const board = await api.createBoard(selected, name.value.trim())
        remember(`boards.${selected}`, [...recall(`boards.${selected}`, []), board])
        navigate(`/b/${board.id}`)
      } catch (err) {
        showError(err instanceof Offline ? 'You are offline: boards can be created once the server is reachable.' : err.message, err.status)
      } finally {
        submit.disabled = false
      }
    }
  }, name, submit)

  const showWorkspaces = () => replace(workspaceList, workspaces.map((w) =>
    h('li', {},
      h('button', {
        testid: 'workspace-item', class: `workspace${w.id === selected ? ' selected' : ''}`,
        dataset: { workspaceId: w.id }, 'aria-pressed': String(w.id === selected),
        onclick: () => { selected = w.id; remember('workspace', selected); showWorkspaces(); showBoards() }
      }, w.name, h('span', { class: 'role' }, w.role)))))

  const boardItems = (boards) => boards.length
    ? boards.map((b) => h('li', {},
        h('a', { testid: 'board-link', class: 'board-card', href: `/b/${b.id}`, dataset: { boardId: b.id, route: '' } },
          h('span', { class: 'board-card-name' }, b.name), h('span', { class: 'board-card-prefix' }, b.card_prefix))))
    : [h('li', { class: 'muted' }, 'No boards yet: create one below.')]

  const showBoards = async () => {
    if (!selected) return replace(boardList, h('li', { class: 'muted' }, 'You are not a member of any workspace.'))
    const workspaceId = selected
    replace(boardList, boardItems(recall(`boards.${workspaceId}`, [])))
    try {
      const boards = await api.listBoards(workspaceId)
      remember(`boards.${workspaceId}`, boards)
      if (selected === workspaceId) replace(boardList, boardItems(boards))
    } catch (err) {
      if (!(err instanceof Offline)) showError(err.message, err.status)
    }
  }

  replace(root, h('main', { class: 'home' },
    h('section', { class: 'panel' }, h('h2', {}, 'Workspaces'), workspaceList),
    h('section', { class: 'panel grow' }, h('h2', {}, 'Boards'), boardList, form)))
  showWorkspaces()
  await showBoards()
}
